"""Catalog API: products (paginated), product detail by slug, categories."""
from rest_framework import generics

from . import serializers
from .models import Category, Product


class ProductList(generics.ListAPIView):
    serializer_class = serializers.ProductListSerializer
    queryset = Product.objects.filter(is_active=True).select_related('category', 'brand')


class ProductDetail(generics.RetrieveAPIView):
    serializer_class = serializers.ProductDetailSerializer
    lookup_field = 'slug'

    def get_queryset(self):
        queryset = Product.objects.filter(is_active=True).select_related('category', 'brand')
        return queryset.prefetch_related(*serializers.DETAIL_PREFETCH)


class CategoryList(generics.ListAPIView):
    serializer_class = serializers.CategorySerializer
    queryset = Category.objects.select_related('parent')
    pagination_class = None
