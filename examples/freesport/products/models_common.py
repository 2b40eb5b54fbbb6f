"""Catalog models shared by every release: Category, Brand, ColorMapping."""
from django.db import models


class Category(models.Model):
    onec_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    parent = models.ForeignKey('self', null=True, blank=True, on_delete=models.SET_NULL,
                               related_name='children')

    class Meta:
        app_label = 'products'
        db_table = 'categories'
        ordering = ['name']
        verbose_name_plural = 'categories'

    def __str__(self):
        return self.name


class Brand(models.Model):
    onec_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)

    class Meta:
        app_label = 'products'
        db_table = 'brands'
        ordering = ['name']

    def __str__(self):
        return self.name


class ColorMapping(models.Model):
    """A colour name as 1C writes it and the hex code the shop shows."""
    name = models.CharField(max_length=100, unique=True, help_text='exactly as in 1C (Цвет)')
    hex_code = models.CharField(max_length=7, help_text='#RRGGBB')

    class Meta:
        app_label = 'products'
        db_table = 'color_mappings'
        ordering = ['name']

    def __str__(self):
        return '%s (%s)' % (self.name, self.hex_code)
