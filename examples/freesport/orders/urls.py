from django.urls import path

from . import views

urlpatterns = [
    path('cart/', views.Cart.as_view(), name='cart'),
    path('orders/', views.Orders.as_view(), name='order-list'),
    path('orders/<int:pk>/', views.OrderDetail.as_view(), name='order-detail'),
]
