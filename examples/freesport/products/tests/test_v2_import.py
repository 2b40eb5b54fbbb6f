import os
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import TestCase

from products.models import Brand, Category, Product, ProductVariant

from .helpers import APP_DIR, generate_export, last_line_counts, make_orders, snapshot


def run_import(directory, *args, env=None):
    out = StringIO()
    with mock.patch.dict(os.environ, env or {}):
        call_command('import_products_from_1c', '--full', '--dir', directory, *args, stdout=out)
    return out.getvalue()


class ImportTests(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.export = generate_export('--unknown-colors', '3')

    def test_counts_prices_stock_and_colours(self):
        make_orders()
        before = snapshot()
        counts = last_line_counts(run_import(self.export))
        self.assertEqual((counts['products'], counts['variants']), ('20', '60'))
        self.assertEqual((counts['new_products'], counts['new_variants']), ('20', '60'))
        self.assertEqual(counts['unknown_colors'], '3')
        self.assertEqual(Product.objects.count(), 20)
        self.assertEqual(ProductVariant.objects.count(), 60)
        self.assertEqual(Category.objects.count(), 12)
        self.assertTrue(Brand.objects.exists())
        self.assertEqual(ProductVariant.objects.filter(color__isnull=True).count(), 3)
        variant = ProductVariant.objects.exclude(retail_price=0).first()
        self.assertEqual(variant.opt_price, (variant.retail_price * Decimal('0.7')).quantize(Decimal('0.01')))
        self.assertTrue(ProductVariant.objects.filter(stock_quantity__gt=0).exists())
        self.assertTrue(all('#' in v for v in ProductVariant.objects.values_list('onec_id', flat=True)))
        self.assertEqual(snapshot(), before)

    def test_rerun_creates_no_duplicates(self):
        run_import(self.export)
        slugs = sorted(Product.objects.values_list('slug', flat=True))
        counts = last_line_counts(run_import(self.export))
        self.assertEqual((counts['new_products'], counts['new_variants']), ('0', '0'))
        self.assertEqual((counts['products'], counts['variants']), ('20', '60'))
        self.assertEqual(Product.objects.count(), 20)
        self.assertEqual(ProductVariant.objects.count(), 60)
        self.assertEqual(sorted(Product.objects.values_list('slug', flat=True)), slugs)

    def test_plain_files_without_bom_or_namespace(self):
        plain = generate_export('--no-bom', '--no-namespace', products=5, variants=2)
        counts = last_line_counts(run_import(plain))
        self.assertEqual((counts['products'], counts['variants']), ('5', '10'))

    def test_malformed_xml_names_the_file_and_writes_nothing(self):
        broken = generate_export(products=5, variants=2)
        path = os.path.join(broken, 'offers.xml')
        with open(path, 'rb') as f:
            data = f.read()
        with open(path, 'wb') as f:
            f.write(data[:len(data) // 2])
        with self.assertRaisesRegex(CommandError, r'offers\.xml: malformed XML') as caught:
            run_import(broken)
        self.assertEqual(caught.exception.returncode, 1)
        self.assertEqual(Product.objects.count(), 0)

    def test_bad_price_names_the_element(self):
        bad = generate_export(products=3, variants=1)
        path = os.path.join(bad, 'prices.xml')
        with open(path, encoding='utf-8-sig') as f:
            text = f.read()
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text.replace('<ЦенаЗаЕдиницу>', '<ЦенаЗаЕдиницу>abc', 1))
        with self.assertRaisesRegex(CommandError, r'prices\.xml: Предложение Ид=.*/Цена/<ЦенаЗаЕдиницу> is not a number'):
            run_import(bad)

    def test_missing_file(self):
        empty = generate_export(products=1, variants=1)
        os.remove(os.path.join(empty, 'rests.xml'))
        with self.assertRaisesRegex(CommandError, r'rests\.xml: file not found'):
            run_import(empty)

    def test_full_import_refuses_a_changes_only_export(self):
        changes = generate_export('--only-changes', products=2, variants=1)
        with self.assertRaisesRegex(CommandError, 'СодержитТолькоИзменения'):
            run_import(changes)
        counts = last_line_counts(run_import_incremental(changes))
        self.assertEqual(counts['products'], '2')

    def test_failure_after_n_variants_rolls_everything_back(self):
        with self.assertRaisesRegex(CommandError, 'simulated failure after 25 variants'):
            run_import(self.export, '--batch-size', '10', env={'FREESPORT_IMPORT_FAIL_AFTER': '25'})
        self.assertEqual(Product.objects.count(), 0)
        self.assertEqual(ProductVariant.objects.count(), 0)

    def test_failure_with_commit_every_batch_leaves_a_partial_catalog(self):
        with self.assertRaises(CommandError):
            run_import(self.export, '--batch-size', '10', '--commit-every-batch',
                       env={'FREESPORT_IMPORT_FAIL_AFTER': '25'})
        self.assertEqual(Product.objects.count(), 20)
        self.assertEqual(ProductVariant.objects.count(), 25)


def run_import_incremental(directory):
    out = StringIO()
    call_command('import_products_from_1c', '--dir', directory, stdout=out)
    return out.getvalue()


class ImportExitCodeTests(TestCase):
    def test_bad_xml_exits_with_code_1_and_a_clear_message(self):
        broken = generate_export(products=2, variants=1)
        with open(os.path.join(broken, 'goods.xml'), 'w', encoding='utf-8') as f:
            f.write('<?xml version="1.0"?><КоммерческаяИнформация><Каталог><Товары><Товар>')
        url = urlsplit(os.environ['DATABASE_URL'])
        env = dict(os.environ, DATABASE_URL=urlunsplit(url._replace(path='/' + connection.settings_dict['NAME'])))
        result = subprocess.run([sys.executable, 'manage.py', 'import_products_from_1c', '--full', '--dir', broken],
                                cwd=APP_DIR, env=env, capture_output=True, text=True)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn('goods.xml: malformed XML', result.stderr)
        self.assertIn('nothing was written', result.stdout)
