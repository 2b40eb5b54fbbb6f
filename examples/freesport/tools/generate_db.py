#!/usr/bin/env python3
"""Fill a migrated FREESPORT database with a deterministic shop: users, orders, order items, cart
items, categories, brands, products (and variants when the schema is release 2.0).

  DATABASE_URL=postgres://... generate_db.py --scale 0.01 --seed 1
  generate_db.py --database-url URL --scale 1.0 --seed 1      # ~1 GB

Everything is set-based SQL (INSERT ... SELECT generate_series), values are a pure function of the
row number and the seed (hashint8extended), so the same seed and scale give the same rows.
Prefer DATABASE_URL in the environment: a URL given with --database-url is visible in the process list.
"""
import argparse
import os
import sys
import time

import psycopg2

BASE = {'users': 80_000, 'orders': 1_150_000, 'cart_items': 250_000}
MINIMUM = {'users': 20, 'orders': 50, 'cart_items': 10}
PRODUCTS, CATEGORIES, BRANDS = 2020, 12, 15
KINDS = "ARRAY['Кроссовки','Футболка','Куртка','Брюки','Мяч','Рюкзак','Шорты','Толстовка','Кепка','Носки']"
STATUSES = "ARRAY['new','paid','shipped','delivered','cancelled']"

RAND = """CREATE FUNCTION pg_temp.r(g bigint, salt bigint, n bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT ((hashint8extended(g, salt) % n) + n) % n $$"""
PRICE = '(490 + pg_temp.r(%(pidx)s, %(s)s + 4, 24500))'
STAMP = "(timestamptz '2023-01-01 00:00+03' + pg_temp.r(%(g)s, %(s)s + %(k)s, 63072000) * interval '1 second')"


def price(pidx):
    return PRICE % {'pidx': pidx, 's': '%(s)s'}


def stamp(g, k):
    return STAMP % {'g': g, 's': '%(s)s', 'k': k}


def next_id(cur, table):
    cur.execute('SELECT coalesce(max(id), 0) FROM %s' % table)
    return cur.fetchone()[0]


def has_column(cur, table, column):
    cur.execute('SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() '
                'AND table_name = %s AND column_name = %s', (table, column))
    return cur.fetchone() is not None


def catalog(cur, p, v1):
    cur.execute('SELECT count(*) FROM products')
    if cur.fetchone()[0]:
        cur.execute('SELECT min(id), count(*) FROM products')
        first, count = cur.fetchone()
        return first - 1, count
    c0, b0, p0 = next_id(cur, 'categories'), next_id(cur, 'brands'), next_id(cur, 'products')
    cur.execute("""INSERT INTO categories (id, onec_id, name, slug, parent_id)
        SELECT %(c0)s + g, 'gen-cat-' || %(s)s || '-' || g, 'Категория ' || g, 'category-' || %(s)s || '-' || g, NULL
        FROM generate_series(1, %(nc)s) g""", dict(p, c0=c0, nc=CATEGORIES))
    cur.execute("""INSERT INTO brands (id, onec_id, name, slug)
        SELECT %(b0)s + g, 'gen-brand-' || %(s)s || '-' || g, 'Бренд ' || g, 'brand-' || %(s)s || '-' || g
        FROM generate_series(1, %(nb)s) g""", dict(p, b0=b0, nb=BRANDS))
    extra = ', retail_price, stock_quantity' if v1 else ''
    extra_values = (', ' + price('g') + ', pg_temp.r(g, %(s)s + 7, 41)') if v1 else ''
    cur.execute("""INSERT INTO products (id, onec_id, name, slug, article, description, category_id, brand_id,
            is_active, created_at, updated_at""" + extra + """)
        SELECT %(p0)s + g, md5('product' || %(s)s || '-' || g)::uuid::text,
            (""" + KINDS + """)[1 + pg_temp.r(g, %(s)s + 8, 10)] || ' модель ' || g,
            'product-' || g || '-' || left(md5('product' || %(s)s || '-' || g), 8), 'FS-' || lpad(g::text, 5, '0'),
            'Описание товара ' || g, %(c0)s + 1 + pg_temp.r(g, %(s)s + 9, %(nc)s),
            %(b0)s + 1 + pg_temp.r(g, %(s)s + 10, %(nb)s), true, """ + stamp('g', 11) + ', ' + stamp('g', 11)
                + extra_values + """
        FROM generate_series(1, %(np)s) g""", dict(p, p0=p0, c0=c0, b0=b0, nc=CATEGORIES, nb=BRANDS, np=PRODUCTS))
    if not v1:
        cur.execute("""INSERT INTO product_variants (product_id, onec_id, sku, color_id, color_name, size,
                retail_price, opt_price, stock_quantity, created_at, updated_at)
            SELECT %(p0)s + g, md5('product' || %(s)s || '-' || g)::uuid::text || '#' || v,
                'FS-' || lpad(g::text, 5, '0') || '-' || v, c.id, c.name, (ARRAY['S','M','L'])[v],
                """ + price('g') + ', round(' + price('g') + """ * 0.7, 2), pg_temp.r(g * 4 + v, %(s)s + 7, 41),
                now(), now()
            FROM generate_series(1, %(np)s) g CROSS JOIN generate_series(1, 3) v
            LEFT JOIN (SELECT id, name, row_number() OVER (ORDER BY id) AS n FROM color_mappings) c
                ON c.n = 1 + (g + v) %% 20""", dict(p, p0=p0, np=PRODUCTS))
    return p0, PRODUCTS


def fill(cur, scale, seed):
    n = {k: max(MINIMUM[k], int(BASE[k] * scale)) for k in BASE}
    p = {'s': seed * 1000}
    cur.execute(RAND)
    v1 = has_column(cur, 'products', 'retail_price')
    p0, np = catalog(cur, p, v1)
    p.update(p0=p0, np=np, u0=next_id(cur, 'auth_user'), o0=next_id(cur, 'orders'))
    p.update(nu=n['users'], no=n['orders'], nc=n['cart_items'])
    cur.execute("""INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email,
            is_staff, is_active, date_joined)
        SELECT %(u0)s + g, '!', false, 'customer' || (%(u0)s + g), 'Покупатель', 'Номер ' || g,
            'customer' || (%(u0)s + g) || '@example.com', false, true, """ + stamp('g', 1) + """
        FROM generate_series(1, %(nu)s) g""", p)
    pidx = '(1 + pg_temp.r(o * 8 + k, %(s)s + 3, %(np)s))'
    qty = '(1 + pg_temp.r(o * 8 + k, %(s)s + 5, 3))'
    lines = 'generate_series(1, 1 + pg_temp.r(o, %(s)s + 2, 5)) k'
    cur.execute("""INSERT INTO orders (id, user_id, number, status, total_amount, delivery_address, created_at)
        SELECT %(o0)s + o, %(u0)s + 1 + pg_temp.r(o, %(s)s + 12, %(nu)s), 'FS-' || %(s)s || '-' || (%(o0)s + o),
            (""" + STATUSES + """)[1 + pg_temp.r(o, %(s)s + 13, 5)],
            (SELECT sum(""" + price(pidx) + ' * ' + qty + ') FROM ' + lines + """),
            'Москва, ул. Спортивная, д. ' || (1 + pg_temp.r(o, %(s)s + 14, 200)), """ + stamp('o', 15) + """
        FROM generate_series(1, %(no)s) o""", p)
    cur.execute("""INSERT INTO order_items (order_id, product_onec_id, product_name, product_sku, price, quantity)
        SELECT %(o0)s + o, pr.onec_id, pr.name, pr.article, """ + price(pidx) + ', ' + qty + """
        FROM generate_series(1, %(no)s) o CROSS JOIN LATERAL """ + lines + """
        JOIN products pr ON pr.id = %(p0)s + """ + pidx, p)
    cur.execute("""INSERT INTO cart_items (user_id, product_onec_id, product_name, price, quantity, added_at)
        SELECT %(u0)s + 1 + pg_temp.r(g, %(s)s + 16, %(nu)s), pr.onec_id, pr.name, """
                + price('(1 + pg_temp.r(g, %(s)s + 17, %(np)s))') + """, 1 + pg_temp.r(g, %(s)s + 18, 2),
            """ + stamp('g', 19) + """
        FROM generate_series(1, %(nc)s) g JOIN products pr ON pr.id = %(p0)s + 1 + pg_temp.r(g, %(s)s + 17, %(np)s)""",
                p)
    for table in ('auth_user', 'categories', 'brands', 'products', 'product_variants', 'orders', 'order_items',
                  'cart_items'):
        if table == 'product_variants' and v1:
            continue
        cur.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), greatest((SELECT max(id) FROM " + table
                    + '), 1))', (table,))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--database-url', default=os.environ.get('DATABASE_URL'))
    parser.add_argument('--scale', type=float, default=0.01, help='1.0 is about 1 GB (default 0.01)')
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args()
    if not args.database_url:
        parser.error('give --database-url or set DATABASE_URL')
    if not 0 < args.scale <= 10:
        parser.error('--scale must be in (0, 10]')
    started = time.monotonic()
    try:
        conn = psycopg2.connect(args.database_url)
    except psycopg2.Error as exc:
        sys.exit('cannot connect to the database: %s' % str(exc).strip().splitlines()[0])
    with conn:
        with conn.cursor() as cur:
            fill(cur, args.scale, args.seed)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('ANALYZE')
        counts = []
        for table in ('auth_user', 'orders', 'order_items', 'cart_items', 'products', 'product_variants',
                      'categories', 'brands', 'color_mappings'):
            cur.execute('SELECT to_regclass(%s) IS NOT NULL', (table,))
            if cur.fetchone()[0]:
                cur.execute('SELECT count(*) FROM ' + table)
                counts.append('%s=%d' % (table, cur.fetchone()[0]))
        cur.execute('SELECT pg_database_size(current_database())')
        size = cur.fetchone()[0]
    conn.close()
    print('generated %s database_bytes=%d seconds=%.1f' % (' '.join(counts), size, time.monotonic() - started))


if __name__ == '__main__':
    main()
