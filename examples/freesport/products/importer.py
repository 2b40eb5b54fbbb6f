"""Catalog import from 1C: upserts categories, brands, products and variants by their 1C id.

Batches of 500 rows go to PostgreSQL as INSERT ... ON CONFLICT (onec_id) DO UPDATE, so running the
import again updates rows instead of duplicating them. By default the whole import is one transaction.
"""
import hashlib
import logging
import os
import re
import time
from collections import Counter

from django.db import connection, transaction
from django.utils import timezone
from psycopg2.extras import execute_values

from .commerceml import CommerceMLError, Export, read_goods, read_offers, read_prices, read_rests

log = logging.getLogger('freesport.import')

FILES = ('goods.xml', 'offers.xml', 'prices.xml', 'rests.xml')
FAIL_AFTER_ENV = 'FREESPORT_IMPORT_FAIL_AFTER'

_TRANSLIT = dict(zip('абвгдеёжзийклмнопрстуфхцчшщъыьэюя',
                     'a b v g d e e zh z i y k l m n o p r s t u f h ts ch sh sch - y - e yu ya'.split()))


def slug_for(name, onec_id):
    """A stable ASCII slug: transliterated name plus a short hash of the 1C id (unique per id)."""
    latin = ''.join(_TRANSLIT.get(ch, ch) for ch in name.lower()).replace('-', ' ')
    base = re.sub(r'[^a-z0-9]+', '-', latin).strip('-')[:80] or 'item'
    return '%s-%s' % (base, hashlib.sha1(onec_id.encode('utf-8')).hexdigest()[:8])


def price_role(type_name):
    name = type_name.lower()
    if 'розн' in name or 'retail' in name:
        return 'retail'
    if 'опт' in name or 'wholesale' in name or name.startswith('opt'):
        return 'opt'
    return None


def norm_color(name):
    return name.strip().lower().replace('ё', 'е')


class SimulatedFailure(CommerceMLError):
    pass


class Importer:
    def __init__(self, directory, full=True, batch_size=500, fail_after=None, atomic=True, out=None):
        self.directory = directory
        self.full = full
        self.batch_size = batch_size
        self.fail_after = fail_after
        self.atomic = atomic
        self.out = out or (lambda line: None)
        self.counts = Counter()
        self.unknown_colors = Counter()
        self.exports = {name: Export(os.path.join(directory, name)) for name in FILES}

    def say(self, message, level=logging.INFO):
        log.log(level, message)
        self.out(message)

    def check_files(self):
        for export in self.exports.values():
            if not os.path.isfile(export.path):
                raise export.error('file not found')
            if os.path.getsize(export.path) == 0:
                raise export.error('file is empty')

    def check_full(self, export):
        if self.full and export.only_changes:
            raise export.error('%s="true": this export holds only changes, a --full import needs a '
                               'full export' % 'СодержитТолькоИзменения')

    def run(self):
        started = time.monotonic()
        self.check_files()
        prices_file, rests_file = self.exports['prices.xml'], self.exports['rests.xml']
        price_types, self.prices = read_prices(prices_file)
        self.check_full(prices_file)
        self.roles = {tid: price_role(name) for tid, name in price_types.items()}
        for tid, name in price_types.items():
            if self.roles[tid] is None:
                self.say('WARNING: prices.xml: price type %r (%s) is neither retail nor opt, ignored'
                         % (name, tid), logging.WARNING)
        self.rests = read_rests(rests_file)
        self.check_full(rests_file)
        self.say('read prices of %d offers, stock of %d offers' % (len(self.prices), len(self.rests)))
        with transaction.atomic() if self.atomic else _nothing():
            self.load_maps()
            self.import_goods()
            self.import_offers()
        self.counts['seconds'] = round(time.monotonic() - started, 2)
        self.report()
        return self.counts

    def load_maps(self):
        with connection.cursor() as cur:
            cur.execute('SELECT id, name FROM color_mappings')
            self.colors = {norm_color(name): cid for cid, name in cur.fetchall()}
            cur.execute('SELECT onec_id, id FROM categories WHERE onec_id IS NOT NULL')
            self.categories = dict(cur.fetchall())
            cur.execute('SELECT onec_id, id FROM brands WHERE onec_id IS NOT NULL')
            self.brands = dict(cur.fetchall())
            cur.execute('SELECT onec_id, id FROM products')
            self.products = dict(cur.fetchall())

    def upsert(self, table, columns, conflict_update, rows):
        """INSERT ... ON CONFLICT (onec_id) DO UPDATE; returns [(onec_id, id, inserted)]."""
        sql = 'INSERT INTO %s (%s) VALUES %%s ON CONFLICT (onec_id) DO UPDATE SET %s ' \
              'RETURNING onec_id, id, (xmax = 0)' % (
                  table, ', '.join(columns), ', '.join('%s = EXCLUDED.%s' % (c, c) for c in conflict_update))
        with transaction.atomic(), connection.cursor() as cur:
            return execute_values(cur.cursor, sql, rows, page_size=len(rows), fetch=True)

    def import_goods(self):
        goods = self.exports['goods.xml']
        now = timezone.now()
        batch, brands_seen = [], set()
        for kind, item in read_goods(goods):
            self.check_full(goods)
            if kind == 'category':
                self.import_category(item)
                self.counts['categories'] += 1
                continue
            if item['brand']:
                brands_seen.add(item['brand'][0])
            if item['brand'] and item['brand'][0] not in self.brands:
                brand_id, brand_name = item['brand']
                rows = self.upsert('brands', ['onec_id', 'name', 'slug'], ['name'],
                                   [(brand_id, brand_name, slug_for(brand_name, brand_id))])
                self.brands[brand_id] = rows[0][1]
            category = self.categories.get(item['group']) if item['group'] else None
            if item['group'] and category is None:
                self.counts['unknown_groups'] += 1
            batch.append((item['onec_id'], item['name'], slug_for(item['name'], item['onec_id']),
                          item['article'], item['description'], category,
                          self.brands[item['brand'][0]] if item['brand'] else None, True, now, now))
            if len(batch) >= self.batch_size:
                self.write_products(batch)
        if batch:
            self.write_products(batch)
        self.counts['brands'] = len(brands_seen)
        self.say('goods.xml: %d products (%d new), %d categories, %d brands' % (
            self.counts['products'], self.counts['new_products'], self.counts['categories'], len(brands_seen)))

    def import_category(self, item):
        parent = self.categories.get(item['parent']) if item['parent'] else None
        rows = self.upsert('categories', ['onec_id', 'name', 'slug', 'parent_id'], ['name', 'parent_id'],
                           [(item['onec_id'], item['name'], slug_for(item['name'], item['onec_id']), parent)])
        self.categories[item['onec_id']] = rows[0][1]

    def write_products(self, batch):
        columns = ['onec_id', 'name', 'slug', 'article', 'description', 'category_id', 'brand_id',
                   'is_active', 'created_at', 'updated_at']
        rows = self.upsert('products', columns, columns[1:2] + columns[3:8] + columns[9:], batch)
        for onec_id, pk, inserted in rows:
            self.products[onec_id] = pk
            self.counts['new_products'] += inserted
        self.counts['products'] += len(rows)
        batch.clear()

    def import_offers(self):
        offers = self.exports['offers.xml']
        now = timezone.now()
        batch = []
        for offer in read_offers(offers):
            self.check_full(offers)
            product_id = self.products.get(offer['product_onec_id'])
            if product_id is None:
                self.counts['skipped'] += 1
                self.say('WARNING: offers.xml: Предложение Ид=%s refers to product %s, which is not in '
                         'the catalog; skipped' % (offer['onec_id'], offer['product_onec_id']), logging.WARNING)
                continue
            color_id = None
            if offer['color']:
                color_id = self.colors.get(norm_color(offer['color']))
                if color_id is None:
                    self.unknown_colors[offer['color']] += 1
            prices = {self.roles.get(tid): value for tid, value in self.prices.get(offer['onec_id'], {}).items()}
            if offer['onec_id'] not in self.prices:
                self.counts['without_price'] += 1
            if self.fail_after is not None and self.counts['variants'] + len(batch) >= self.fail_after:
                self.fail(batch)
            batch.append((product_id, offer['onec_id'], offer['sku'], color_id, offer['color'], offer['size'],
                          prices.get('retail', 0), prices.get('opt', 0), self.rests.get(offer['onec_id'], 0),
                          now, now))
            if len(batch) >= self.batch_size:
                self.write_variants(batch)
        if self.fail_after is not None:
            self.fail(batch)
        if batch:
            self.write_variants(batch)
        self.say('offers.xml: %d variants (%d new)' % (self.counts['variants'], self.counts['new_variants']))

    def fail(self, batch):
        self.write_variants(batch)
        raise SimulatedFailure('simulated failure after %d variants (%s)'
                               % (self.counts['variants'], FAIL_AFTER_ENV))

    def write_variants(self, batch):
        if not batch:
            return
        columns = ['product_id', 'onec_id', 'sku', 'color_id', 'color_name', 'size', 'retail_price',
                   'opt_price', 'stock_quantity', 'created_at', 'updated_at']
        update = [c for c in columns if c not in ('onec_id', 'created_at')]
        rows = self.upsert('product_variants', columns, update, batch)
        self.counts['variants'] += len(rows)
        self.counts['new_variants'] += sum(1 for _, _, inserted in rows if inserted)
        batch.clear()

    def report(self):
        self.counts['unknown_colors'] = sum(self.unknown_colors.values())
        if self.unknown_colors:
            names = ', '.join('%s (%d)' % item for item in self.unknown_colors.most_common())
            self.say('WARNING: %d variants have a colour missing from ColorMapping: %s. Add them in the '
                     'admin (Products > Color mappings) and import again.'
                     % (self.counts['unknown_colors'], names), logging.WARNING)
        if self.counts['without_price']:
            self.say('WARNING: %d variants have no price in prices.xml' % self.counts['without_price'],
                     logging.WARNING)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
