from django.contrib import admin

from .models import Brand, Category, ColorMapping, Product, ProductVariant


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


class ProductVariantInline(admin.TabularInline):
    model = ProductVariant
    extra = 0
    fields = ('onec_id', 'sku', 'color', 'color_name', 'size', 'retail_price', 'opt_price', 'stock_quantity')


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ('name', 'article', 'category', 'brand', 'is_active')
    list_filter = ('is_active', 'category')
    search_fields = ('name', 'article', 'onec_id')
    inlines = [ProductVariantInline]


@admin.register(ProductVariant)
class ProductVariantAdmin(admin.ModelAdmin):
    list_display = ('onec_id', 'sku', 'product', 'color_name', 'size', 'retail_price', 'stock_quantity')
    list_filter = ('color',)
    search_fields = ('onec_id', 'sku', 'product__name')
    raw_id_fields = ('product',)
