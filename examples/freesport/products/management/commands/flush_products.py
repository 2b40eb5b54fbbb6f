"""manage.py flush_products --confirm [--dry-run] [--skip-interactive]

Deletes every ProductVariant, then every Product, in one transaction. Keeps ColorMapping, Brand and
Category. Orders, order items, cart items and users hold no foreign key to products: never touched.
"""
import logging
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from products.models import Brand, Category, ColorMapping, Product, ProductVariant

log = logging.getLogger('freesport.flush')


class Command(BaseCommand):
    help = 'Delete all products and product variants (keeps colours, brands, categories, orders, carts).'

    def add_arguments(self, parser):
        parser.add_argument('--confirm', action='store_true', help='required: really delete')
        parser.add_argument('--dry-run', action='store_true', help='show what would be deleted, delete nothing')
        parser.add_argument('--skip-interactive', action='store_true',
                            help='do not ask on a terminal (for CI)')

    def say(self, message):
        log.info(message)
        self.stdout.write(message)

    def handle(self, *args, **options):
        variants, products = ProductVariant.objects.count(), Product.objects.count()
        kept = 'keeps %d color mappings, %d brands, %d categories' % (
            ColorMapping.objects.count(), Brand.objects.count(), Category.objects.count())
        if options['dry_run']:
            self.say('dry run: would delete %d product variants and %d products; %s' % (variants, products, kept))
            return
        if not options['confirm']:
            raise CommandError('refusing to delete %d products and %d variants without --confirm '
                               '(see --dry-run)' % (products, variants))
        if not options['skip_interactive'] and sys.stdin.isatty():
            answer = input('Delete %d products and %d variants? Type "yes": ' % (products, variants))
            if answer.strip() != 'yes':
                raise CommandError('cancelled, nothing deleted')
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute('DELETE FROM product_variants')
            deleted_variants = cur.rowcount
            cur.execute('DELETE FROM products')
            deleted_products = cur.rowcount
        self.say('Deleted %d ProductVariants' % deleted_variants)
        self.say('Deleted %d Products' % deleted_products)
        self.say('Kept: %s' % kept[len('keeps '):])
        self.say('flushed products=%d variants=%d' % (deleted_products, deleted_variants))
