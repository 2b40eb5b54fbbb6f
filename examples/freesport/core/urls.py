from django.urls import path

from . import accounts

urlpatterns = [
    path('auth/register/', accounts.Register.as_view(), name='auth-register'),
    path('auth/login/', accounts.Login.as_view(), name='auth-login'),
]
