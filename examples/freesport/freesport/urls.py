from django.contrib import admin
from django.urls import include, path

from core.views import health

urlpatterns = [
    path('admin/', admin.site.urls),
    path('api/health/', health, name='health'),
    path('api/v1/', include('products.urls')),
    path('api/v1/', include('core.urls')),
    path('api/v1/', include('orders.urls')),
]
