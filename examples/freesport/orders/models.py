"""Orders and carts. They keep copies of the product's 1C id, name, SKU and price as plain
columns (no foreign key to products), so a catalog flush and re-import never changes a row."""
from django.conf import settings
from django.db import models


class Order(models.Model):
    STATUSES = [('new', 'New'), ('paid', 'Paid'), ('shipped', 'Shipped'), ('delivered', 'Delivered'),
                ('cancelled', 'Cancelled')]
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name='orders')
    number = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=16, choices=STATUSES, default='new')
    total_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    delivery_address = models.TextField(blank=True, default='')
    created_at = models.DateTimeField()

    class Meta:
        db_table = 'orders'
        ordering = ['-created_at']

    def __str__(self):
        return self.number


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name='items')
    product_onec_id = models.CharField(max_length=100, blank=True, default='')
    product_name = models.CharField(max_length=300)
    product_sku = models.CharField(max_length=100, blank=True, default='')
    price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField(default=1)

    class Meta:
        db_table = 'order_items'

    def __str__(self):
        return '%s x%s' % (self.product_name, self.quantity)


class CartItem(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name='cart_items')
    product_onec_id = models.CharField(max_length=100)
    product_name = models.CharField(max_length=300)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField(default=1)
    added_at = models.DateTimeField()

    class Meta:
        db_table = 'cart_items'

    def __str__(self):
        return '%s x%s' % (self.product_name, self.quantity)
