"""The customer's cart and orders (a logged-in customer: `Authorization: Token <token>`).

GET  /api/v1/cart/            {"items": [...], "total_amount"}
POST /api/v1/cart/            {"product": slug, "variant": id?, "quantity": 1..99} -> 201 the cart line
POST /api/v1/orders/          {"delivery_address"?} -> 201 the order (its lines are the cart's; the cart empties)
GET  /api/v1/orders/          the customer's orders, newest first (paginated)
GET  /api/v1/orders/{id}/     one of them

A cart line copies the product's 1C id, name and price from the catalog (products.purchase knows what
the release sells: a Product in 1.0, a ProductVariant in 2.0); the order copies them from the cart, so
neither refers to the catalog, which a release may flush and re-import.
"""
import uuid
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.accounts import SignedTokenAuthentication
from products import purchase

from .models import CartItem, Order, OrderItem
from .serializers import CartItemSerializer, OrderSerializer

MAX_QUANTITY = 99


class CustomerView:
    authentication_classes = [SignedTokenAuthentication]
    permission_classes = [IsAuthenticated]


def _quantity(data):
    raw = data.get('quantity', 1) if hasattr(data, 'get') else 1
    try:
        quantity = int(raw)
    except (TypeError, ValueError):
        quantity = 0
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ValidationError({'quantity': ['an integer from 1 to %d' % MAX_QUANTITY]})
    return quantity


class Cart(CustomerView, APIView):
    def get(self, request):
        items = CartItem.objects.filter(user=request.user).order_by('id')
        total = sum((item.price * item.quantity for item in items), Decimal('0.00'))
        return Response({'items': CartItemSerializer(items, many=True).data, 'total_amount': '%.2f' % total})

    def post(self, request):
        data = request.data if hasattr(request.data, 'get') else {}
        quantity = _quantity(data)
        line = purchase.cart_line(data)
        item = CartItem.objects.create(user=request.user, product_onec_id=line['product_onec_id'],
                                       product_name=line['product_name'], price=line['price'],
                                       quantity=quantity, added_at=timezone.now())
        return Response(CartItemSerializer(item).data, status=status.HTTP_201_CREATED)


class Orders(CustomerView, generics.ListAPIView):
    serializer_class = OrderSerializer

    def get_queryset(self):
        return Order.objects.filter(user=self.request.user).prefetch_related('items').order_by('-created_at', '-id')

    def post(self, request):
        data = request.data if hasattr(request.data, 'get') else {}
        address = data.get('delivery_address', '')
        if not isinstance(address, str) or len(address) > 1000:
            raise ValidationError({'delivery_address': ['text of at most 1000 characters']})
        with transaction.atomic():
            items = list(CartItem.objects.select_for_update().filter(user=request.user).order_by('id'))
            if not items:
                raise ValidationError({'cart': ['is empty: add a product first']})
            skus = purchase.skus([item.product_onec_id for item in items])
            order = Order.objects.create(
                user=request.user, number='FS-W-%s' % uuid.uuid4().hex[:16].upper(), status='new',
                total_amount=sum((item.price * item.quantity for item in items), Decimal('0.00')),
                delivery_address=address, created_at=timezone.now())
            OrderItem.objects.bulk_create([
                OrderItem(order=order, product_onec_id=item.product_onec_id, product_name=item.product_name,
                          product_sku=skus.get(item.product_onec_id, ''), price=item.price, quantity=item.quantity)
                for item in items])
            CartItem.objects.filter(id__in=[item.id for item in items]).delete()
        order = self.get_queryset().get(pk=order.pk)
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)


class OrderDetail(CustomerView, generics.RetrieveAPIView):
    serializer_class = OrderSerializer

    def get_queryset(self):
        return Order.objects.filter(user=self.request.user).prefetch_related('items')
