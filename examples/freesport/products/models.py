"""Catalog models of release 2.0: price and stock move from Product to ProductVariant."""
from django.db import models

from .models_common import Brand, Category, ColorMapping


class Product(models.Model):
    onec_id = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=300)
    slug = models.SlugField(max_length=320, unique=True)
    article = models.CharField(max_length=100, blank=True, default='')
    description = models.TextField(blank=True, default='')
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name='products')
    brand = models.ForeignKey(Brand, null=True, blank=True, on_delete=models.PROTECT,
                              related_name='products')
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = 'products'
        ordering = ['name', 'id']

    def __str__(self):
        return self.name


class ProductVariant(models.Model):
    """One 1C offer (Предложение): a product in one colour and size, with its prices and stock."""
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name='variants')
    onec_id = models.CharField(max_length=200, unique=True, help_text='1C offer id, product#characteristic')
    sku = models.CharField(max_length=100, blank=True, default='')
    color = models.ForeignKey(ColorMapping, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name='variants')
    color_name = models.CharField(max_length=100, blank=True, default='', help_text='as written in 1C')
    size = models.CharField(max_length=50, blank=True, default='')
    retail_price = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    opt_price = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    stock_quantity = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = 'product_variants'
        ordering = ['product_id', 'id']

    def __str__(self):
        return '%s %s %s' % (self.sku, self.color_name, self.size)
