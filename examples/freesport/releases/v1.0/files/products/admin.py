from django.contrib import admin

from .models import Brand, Category, ColorMapping, Product


@admin.register(ColorMapping)
class ColorMappingAdmin(admin.ModelAdmin):
    list_display = ('name', 'hex_code')
    search_fields = ('name',)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ('name', 'slug', 'parent', 'onec_id')
    search_fields = ('name', 'onec_id')


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ('name', 'slug', 'onec_id')
    search_fields = ('name', 'onec_id')


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ('name', 'article', 'category', 'brand', 'retail_price', 'stock_quantity', 'is_active')
    list_filter = ('is_active', 'category')
    search_fields = ('name', 'article', 'onec_id')
