"""Migration 0003 (release 1.0 schema -> 2.0) on a database that holds data."""
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import TransactionTestCase

from .helpers import snapshot

V1 = [('products', '0002_seed_base_colors'), ('orders', '0001_initial')]
V2 = [('products', '0003_productvariant'), ('orders', '0001_initial')]


def columns(table):
    with connection.cursor() as cur:
        return [c.name for c in connection.introspection.get_table_description(cur, table)]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


class ForwardMigrationTests(TransactionTestCase):
    serialized_rollback = True

    def tearDown(self):
        migrate(V2)

    def test_v1_to_v2_keeps_orders_and_drops_price_columns(self):
        migrate(V1)
        self.assertIn('retail_price', columns('products'))
        with connection.cursor() as cur:
            cur.execute("INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, "
                        "is_staff, is_active, date_joined) VALUES ('!', false, 'u1', '', '', '', false, true, now()) "
                        "RETURNING id")
            user_id = cur.fetchone()[0]
            cur.execute("INSERT INTO products (onec_id, name, slug, article, description, is_active, retail_price, "
                        "stock_quantity, created_at, updated_at) VALUES ('p-1', 'Мяч', 'myach', 'A1', '', true, "
                        "1990, 7, now(), now())")
            cur.execute("INSERT INTO orders (user_id, number, status, total_amount, delivery_address, created_at) "
                        "VALUES (%s, 'FS-1', 'paid', 1990, '', now()) RETURNING id", [user_id])
            order_id = cur.fetchone()[0]
            cur.execute("INSERT INTO order_items (order_id, product_onec_id, product_name, product_sku, price, "
                        "quantity) VALUES (%s, 'p-1', 'Мяч', 'A1', 1990, 1)", [order_id])
            cur.execute("INSERT INTO cart_items (user_id, product_onec_id, product_name, price, quantity, added_at) "
                        "VALUES (%s, 'p-1', 'Мяч', 1990, 1, now())", [user_id])
        before = snapshot()

        migrate(V2)

        cols = columns('products')
        self.assertNotIn('retail_price', cols)
        self.assertNotIn('stock_quantity', cols)
        self.assertIn('opt_price', columns('product_variants'))
        self.assertEqual(snapshot(), before)
        with connection.cursor() as cur:
            cur.execute('SELECT count(*) FROM color_mappings')
            self.assertEqual(cur.fetchone()[0], 20)
            cur.execute("SELECT name FROM products WHERE onec_id = 'p-1'")
            self.assertEqual(cur.fetchone()[0], 'Мяч')

    def test_v2_migration_is_reversible(self):
        migrate(V1)
        migrate(V2)
        migrate(V1)
        self.assertIn('stock_quantity', columns('products'))
        self.assertNotIn('product_variants', connection.introspection.table_names())
