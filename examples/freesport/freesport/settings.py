"""Settings of the FREESPORT shop. Everything that differs per machine comes from the environment."""
import os
from pathlib import Path

from .dburl import parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get('DJANGO_SECRET_KEY', 'freesport-development-key-not-for-production')
DEBUG = os.environ.get('FREESPORT_DEBUG', '') in ('1', 'true', 'yes')
ALLOWED_HOSTS = [h for h in os.environ.get('FREESPORT_ALLOWED_HOSTS', '*').split(',') if h]

INSTALLED_APPS = [
    'core',  # first: its runserver takes precedence over staticfiles' one
    'django.contrib.admin',
    'django.contrib.auth',
    'django.contrib.contenttypes',
    'django.contrib.sessions',
    'django.contrib.messages',
    'django.contrib.staticfiles',
    'rest_framework',
    'products',
    'orders',
]

MIDDLEWARE = [
    'core.middleware.MaintenanceModeMiddleware',
    'django.middleware.security.SecurityMiddleware',
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
    'django.contrib.auth.middleware.AuthenticationMiddleware',
    'django.contrib.messages.middleware.MessageMiddleware',
    'django.middleware.clickjacking.XFrameOptionsMiddleware',
]

ROOT_URLCONF = 'freesport.urls'
WSGI_APPLICATION = 'freesport.wsgi.application'

TEMPLATES = [{
    'BACKEND': 'django.template.backends.django.DjangoTemplates',
    'DIRS': [],
    'APP_DIRS': True,
    'OPTIONS': {'context_processors': [
        'django.template.context_processors.debug',
        'django.template.context_processors.request',
        'django.contrib.auth.context_processors.auth',
        'django.contrib.messages.context_processors.messages',
    ]},
}]

DATABASES = {'default': parse_database_url(os.environ.get('DATABASE_URL', ''))}
DEFAULT_AUTO_FIELD = 'django.db.models.BigAutoField'

LANGUAGE_CODE = 'en-us'
TIME_ZONE = 'Europe/Moscow'
USE_I18N = True
USE_TZ = True
STATIC_URL = '/static/'

# Maintenance mode is a flag file in this directory, shared by every instance of the app.
FREESPORT_MAINTENANCE_DIR = os.environ.get('FREESPORT_MAINTENANCE_DIR', str(BASE_DIR / 'var'))
FREESPORT_RETRY_AFTER = int(os.environ.get('FREESPORT_RETRY_AFTER', '600'))
# A request with the header `X-Maintenance-Bypass: <this token>` passes the maintenance mode (the
# validation of a release while the shop is still closed). Empty: nothing passes.
FREESPORT_MAINTENANCE_BYPASS_TOKEN = os.environ.get('FREESPORT_MAINTENANCE_BYPASS_TOKEN', '')
# Lifetime in seconds of the API token a customer gets at login (POST /api/v1/auth/login/).
FREESPORT_TOKEN_MAX_AGE = int(os.environ.get('FREESPORT_TOKEN_MAX_AGE', '86400'))

REST_FRAMEWORK = {
    'DEFAULT_PAGINATION_CLASS': 'rest_framework.pagination.PageNumberPagination',
    'PAGE_SIZE': 20,
    'DEFAULT_RENDERER_CLASSES': ['rest_framework.renderers.JSONRenderer'],
    'DEFAULT_AUTHENTICATION_CLASSES': [],
    'DEFAULT_PERMISSION_CLASSES': ['rest_framework.permissions.AllowAny'],
    'UNAUTHENTICATED_USER': None,
}

# Commands print their progress on stdout; FREESPORT_LOG_FILE keeps a copy (e.g. import_products.log).
_log_handlers = {'null': {'class': 'logging.NullHandler'}}
if os.environ.get('FREESPORT_LOG_FILE'):
    _log_handlers['file'] = {
        'class': 'logging.FileHandler',
        'filename': os.environ['FREESPORT_LOG_FILE'],
        'formatter': 'plain',
    }
LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'formatters': {'plain': {'format': '%(asctime)s %(levelname)s %(name)s %(message)s'}},
    'handlers': _log_handlers,
    'loggers': {
        'freesport': {'handlers': list(_log_handlers), 'level': 'INFO', 'propagate': False},
    },
}
