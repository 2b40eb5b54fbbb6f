"""Data migration: the 20 base colours of ColorMapping."""
from django.db import migrations

from products.colors import BASE_COLORS


def seed(apps, schema_editor):
    ColorMapping = apps.get_model('products', 'ColorMapping')
    for name, hex_code in BASE_COLORS:
        ColorMapping.objects.get_or_create(name=name, defaults={'hex_code': hex_code})


def unseed(apps, schema_editor):
    ColorMapping = apps.get_model('products', 'ColorMapping')
    ColorMapping.objects.filter(name__in=[name for name, _ in BASE_COLORS]).delete()


class Migration(migrations.Migration):
    dependencies = [('products', '0001_initial')]
    operations = [migrations.RunPython(seed, unseed)]
