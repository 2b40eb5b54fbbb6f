"""manage.py import_products_from_1c --full [--dir PATH]

Reads goods.xml, offers.xml, prices.xml and rests.xml (CommerceML 2) and upserts the catalog by 1C id.
The last line of the output is machine-readable:
  imported products=2020 variants=6060 categories=.. brands=.. new_products=.. new_variants=..
  unknown_colors=.. skipped=.. seconds=..
Any failure exits with code 1 and, by default, writes nothing (one transaction).
"""
import os

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from products.commerceml import CommerceMLError
from products.importer import FAIL_AFTER_ENV, Importer

SUMMARY_KEYS = ('products', 'variants', 'categories', 'brands', 'new_products', 'new_variants',
                'unknown_colors', 'skipped', 'seconds')


class Command(BaseCommand):
    help = 'Import the catalog from 1C CommerceML 2 files (goods, offers, prices, rests).'

    def add_arguments(self, parser):
        parser.add_argument('--full', action='store_true',
                            help='full import: refuse files marked СодержитТолькоИзменения="true"')
        parser.add_argument('--dir', default=os.environ.get('ONEC_EXCHANGE_DIR', 'exchange'),
                            help='directory with the four XML files (default: $ONEC_EXCHANGE_DIR or ./exchange)')
        parser.add_argument('--batch-size', type=int, default=500)
        parser.add_argument('--commit-every-batch', action='store_true',
                            default=os.environ.get('FREESPORT_IMPORT_COMMIT_EVERY_BATCH') == '1',
                            help='commit each batch on its own (as a plain 1C exchange does); a failure '
                                 'then leaves a partial catalog behind')

    def handle(self, *args, **options):
        fail_after = os.environ.get(FAIL_AFTER_ENV)
        if fail_after is not None:
            if not fail_after.isdigit():
                raise CommandError('%s must be a whole number, got %r' % (FAIL_AFTER_ENV, fail_after))
            fail_after = int(fail_after)
        if options['batch_size'] < 1:
            raise CommandError('--batch-size must be at least 1')
        importer = Importer(options['dir'], full=options['full'], batch_size=options['batch_size'],
                            fail_after=fail_after, atomic=not options['commit_every_batch'],
                            out=self.stdout.write)
        mode = 'full' if options['full'] else 'incremental'
        importer.say('import from %s (%s, %s)' % (os.path.abspath(options['dir']), mode,
                     'one batch per transaction' if options['commit_every_batch'] else 'one transaction'))
        try:
            counts = importer.run()
        except (CommerceMLError, DatabaseError) as exc:
            importer.say('import failed: %s' % exc)
            if not options['commit_every_batch']:
                importer.say('nothing was written (the transaction was rolled back)')
            else:
                importer.say('batches written before the failure stay in the database: %d products, '
                             '%d variants' % (importer.counts['products'], importer.counts['variants']))
            raise CommandError(str(exc), returncode=1)
        self.stdout.write('imported ' + ' '.join('%s=%s' % (k, counts[k]) for k in SUMMARY_KEYS))
