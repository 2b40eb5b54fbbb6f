from decimal import Decimal

from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import TestCase

from products.models import Brand, Category, ColorMapping, Product, ProductVariant

from .helpers import make_catalog, make_orders, snapshot


class FlushProductsTests(TestCase):
    def setUp(self):
        make_orders()
        category, brand = make_catalog()
        red = ColorMapping.objects.get(name='Красный')
        for n in range(3):
            product = Product.objects.create(onec_id='p-%d' % n, name='Товар %d' % n, slug='tovar-%d' % n,
                                             category=category, brand=brand)
            for v in range(2):
                ProductVariant.objects.create(product=product, onec_id='p-%d#%d' % (n, v), sku='S%d%d' % (n, v),
                                              color=red, color_name='Красный', retail_price=Decimal('10.00'))

    def run_flush(self, *args):
        from io import StringIO
        out = StringIO()
        call_command('flush_products', *args, stdout=out)
        return out.getvalue()

    def test_refuses_without_confirm(self):
        with self.assertRaisesRegex(CommandError, '--confirm'):
            self.run_flush()
        self.assertEqual(Product.objects.count(), 3)

    def test_dry_run_deletes_nothing(self):
        out = self.run_flush('--dry-run', '--confirm')
        self.assertIn('would delete 6 product variants and 3 products', out)
        self.assertEqual(ProductVariant.objects.count(), 6)

    def test_flush_keeps_colours_brands_categories_orders_and_carts(self):
        before = snapshot()
        out = self.run_flush('--confirm', '--skip-interactive')
        self.assertEqual(out.strip().splitlines()[-1], 'flushed products=3 variants=6')
        self.assertEqual(Product.objects.count(), 0)
        self.assertEqual(ProductVariant.objects.count(), 0)
        self.assertEqual(ColorMapping.objects.count(), 20)
        self.assertEqual(Brand.objects.count(), 1)
        self.assertEqual(Category.objects.count(), 1)
        self.assertEqual(snapshot(), before)
