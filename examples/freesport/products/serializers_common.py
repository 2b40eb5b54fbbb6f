from rest_framework import serializers

from .models import Category, ColorMapping


class CategorySerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field='slug', read_only=True)

    class Meta:
        model = Category
        fields = ['id', 'name', 'slug', 'parent']


class ColorSerializer(serializers.ModelSerializer):
    class Meta:
        model = ColorMapping
        fields = ['name', 'hex_code']


PRODUCT_LIST_FIELDS = ['id', 'onec_id', 'name', 'slug', 'article', 'category', 'brand']
