"""Shared fixtures: a small catalog, orders and carts, and a snapshot of the protected tables."""
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import connection

from orders.models import CartItem, Order, OrderItem
from products.models import Brand, Category

APP_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTECTED = ('auth_user', 'orders', 'order_items', 'cart_items')


def make_orders():
    when = datetime(2025, 11, 1, 12, 0, tzinfo=timezone.utc)
    user = User.objects.create_user('buyer', 'buyer@example.com', 'secret')
    order = Order.objects.create(user=user, number='FS-1', status='paid', total_amount=Decimal('3980.00'),
                                 created_at=when)
    OrderItem.objects.create(order=order, product_onec_id='p-1', product_name='Кроссовки', product_sku='FS-1',
                             price=Decimal('1990.00'), quantity=2)
    CartItem.objects.create(user=user, product_onec_id='p-1', product_name='Кроссовки', price=Decimal('1990.00'),
                            quantity=1, added_at=when)
    return user


def make_catalog():
    category = Category.objects.create(onec_id='g-1', name='Обувь', slug='obuv')
    brand = Brand.objects.create(onec_id='b-1', name='Nike', slug='nike')
    return category, brand


def snapshot(tables=PROTECTED):
    """Every row of each table as text, in id order: equal snapshots mean unchanged tables."""
    result = {}
    with connection.cursor() as cur:
        for table in tables:
            cur.execute('SELECT t::text FROM %s t ORDER BY id' % table)
            result[table] = [row[0] for row in cur.fetchall()]
    return result


def generate_export(*extra, products=20, variants=3):
    directory = tempfile.mkdtemp(prefix='freesport-cml-')
    subprocess.run([sys.executable, os.path.join(APP_DIR, 'tools', 'generate_commerceml.py'), '--out', directory,
                    '--products', str(products), '--variants-per-product', str(variants), *extra],
                   check=True, stdout=subprocess.DEVNULL)
    return directory


def last_line_counts(output):
    line = output.strip().splitlines()[-1]
    assert line.startswith('imported '), line
    return {k: v for k, v in (item.split('=') for item in line.split()[1:])}
