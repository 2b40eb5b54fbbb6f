"""API shapes of release 1.0: price and stock on the product."""
from rest_framework import serializers

from .models import Product
from .serializers_common import PRODUCT_LIST_FIELDS, CategorySerializer  # noqa: F401

DETAIL_PREFETCH = ()


class ProductListSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field='slug', read_only=True)
    brand = serializers.StringRelatedField()

    class Meta:
        model = Product
        fields = PRODUCT_LIST_FIELDS + ['retail_price', 'stock_quantity']


class ProductDetailSerializer(ProductListSerializer):
    class Meta(ProductListSerializer.Meta):
        fields = ProductListSerializer.Meta.fields + ['description']
