"""Catalog models of release 1.0: the price and the stock live on the product."""
from django.db import models

from .models_common import Brand, Category, ColorMapping  # noqa: F401


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
    retail_price = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    stock_quantity = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = 'products'
        ordering = ['name', 'id']

    def __str__(self):
        return self.name
