"""API shapes of release 2.0: the product detail carries its variants."""
from rest_framework import serializers

from .models import Product, ProductVariant
from .serializers_common import PRODUCT_LIST_FIELDS, CategorySerializer, ColorSerializer  # noqa: F401

DETAIL_PREFETCH = ('variants__color',)


class ProductVariantSerializer(serializers.ModelSerializer):
    color = ColorSerializer(read_only=True)

    class Meta:
        model = ProductVariant
        fields = ['id', 'onec_id', 'sku', 'color', 'color_name', 'size', 'retail_price', 'opt_price',
                  'stock_quantity']


class ProductListSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field='slug', read_only=True)
    brand = serializers.StringRelatedField()

    class Meta:
        model = Product
        fields = PRODUCT_LIST_FIELDS


class ProductDetailSerializer(ProductListSerializer):
    variants = ProductVariantSerializer(many=True, read_only=True)

    class Meta(ProductListSerializer.Meta):
        fields = ProductListSerializer.Meta.fields + ['description', 'variants']
