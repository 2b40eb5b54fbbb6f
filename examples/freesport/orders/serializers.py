from rest_framework import serializers

from .models import CartItem, Order, OrderItem


class CartItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = CartItem
        fields = ['id', 'product_onec_id', 'product_name', 'price', 'quantity', 'added_at']


class OrderItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderItem
        fields = ['id', 'product_onec_id', 'product_name', 'product_sku', 'price', 'quantity']


class OrderSerializer(serializers.ModelSerializer):
    items = OrderItemSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ['id', 'number', 'status', 'total_amount', 'delivery_address', 'created_at', 'items']
