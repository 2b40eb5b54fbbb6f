"""A customer's way through release 2.0: log in, put a ProductVariant in the cart, place the order."""
from decimal import Decimal

from django.contrib.auth.models import User
from django.test import TestCase

from orders.models import CartItem, Order
from products.models import ColorMapping, Product, ProductVariant

from .helpers import make_catalog


class CustomerV2Tests(TestCase):
    def setUp(self):
        category, brand = make_catalog()
        red = ColorMapping.objects.get(name='Красный')
        self.product = Product.objects.create(onec_id='p-1', name='Кроссовки', slug='krossovki', article='A-1',
                                              category=category, brand=brand)
        self.small = ProductVariant.objects.create(
            product=self.product, onec_id='p-1#s', sku='K-S', color=red, color_name='Красный', size='S',
            retail_price=Decimal('1990.00'), opt_price=Decimal('1393.00'), stock_quantity=5)
        self.large = ProductVariant.objects.create(
            product=self.product, onec_id='p-1#l', sku='K-L', color=red, color_name='Красный', size='L',
            retail_price=Decimal('2190.00'), opt_price=Decimal('1533.00'), stock_quantity=5)
        other = Product.objects.create(onec_id='p-2', name='Мяч', slug='myach', category=category, brand=brand)
        self.other_variant = ProductVariant.objects.create(product=other, onec_id='p-2#1', sku='M-1',
                                                           retail_price=Decimal('990.00'))
        Product.objects.create(onec_id='p-3', name='Пусто', slug='pusto', category=category, brand=brand)
        User.objects.create_user('anna', '', 's3cret')
        login = self.client.post('/api/v1/auth/login/', {'username': 'anna', 'password': 's3cret'},
                                 content_type='application/json')
        self.auth = {'HTTP_AUTHORIZATION': 'Token ' + login.json()['token']}

    def post(self, url, data):
        return self.client.post(url, data, content_type='application/json', **self.auth)

    def test_variant_to_cart_to_order(self):
        added = self.post('/api/v1/cart/', {'product': 'krossovki', 'variant': self.large.id, 'quantity': 2})
        self.assertEqual(added.status_code, 201)
        self.assertEqual((added.json()['product_onec_id'], added.json()['price'], added.json()['quantity']),
                         ('p-1#l', '2190.00', 2))
        self.assertEqual(added.json()['product_name'], 'Кроссовки (Красный, L)')
        self.assertEqual(self.post('/api/v1/cart/', {'variant': self.other_variant.id}).status_code, 201)
        cart = self.client.get('/api/v1/cart/', **self.auth).json()
        self.assertEqual((len(cart['items']), cart['total_amount']), (2, '5370.00'))

        order = self.post('/api/v1/orders/', {'delivery_address': 'Москва, ул. Спортивная, 1'})
        self.assertEqual(order.status_code, 201)
        body = order.json()
        self.assertIsInstance(body['id'], int)
        self.assertEqual((body['total_amount'], body['status']), ('5370.00', 'new'))
        self.assertEqual([(i['product_onec_id'], i['product_sku'], i['price'], i['quantity']) for i in body['items']],
                         [('p-1#l', 'K-L', '2190.00', 2), ('p-2#1', 'M-1', '990.00', 1)])
        self.assertEqual(Order.objects.get(pk=body['id']).items.count(), 2)
        self.assertEqual(CartItem.objects.count(), 0)
        self.assertEqual(self.client.get('/api/v1/orders/', **self.auth).json()['results'][0]['id'], body['id'])
        self.assertEqual(self.client.get('/api/v1/orders/%d/' % body['id'], **self.auth).status_code, 200)

    def test_product_slug_alone_buys_its_first_variant(self):
        added = self.post('/api/v1/cart/', {'product': 'krossovki'})
        self.assertEqual((added.status_code, added.json()['product_onec_id']), (201, 'p-1#s'))

    def test_bad_cart_requests(self):
        self.assertEqual(self.post('/api/v1/cart/', {'product': 'nope'}).status_code, 404)
        self.assertEqual(self.post('/api/v1/cart/', {'variant': 999999}).status_code, 404)
        self.assertEqual(self.post('/api/v1/cart/', {'variant': 'x'}).status_code, 400)
        self.assertEqual(self.post('/api/v1/cart/', {}).status_code, 400)
        self.assertEqual(self.post('/api/v1/cart/', {'product': 'pusto'}).status_code, 400)
        self.assertEqual(self.post('/api/v1/cart/', {'product': 'myach', 'variant': self.small.id}).status_code, 400)
        self.assertEqual(self.post('/api/v1/cart/', {'product': 'krossovki', 'quantity': 0}).status_code, 400)
        self.assertEqual(self.post('/api/v1/cart/', {'product': 'krossovki', 'quantity': 100}).status_code, 400)
        self.assertEqual(CartItem.objects.count(), 0)

    def test_orders_survive_a_catalog_flush(self):
        self.post('/api/v1/cart/', {'variant': self.small.id})
        order_id = self.post('/api/v1/orders/', {}).json()['id']
        ProductVariant.objects.all().delete()
        Product.objects.all().delete()
        item = self.client.get('/api/v1/orders/%d/' % order_id, **self.auth).json()['items'][0]
        self.assertEqual((item['product_onec_id'], item['price']), ('p-1#s', '1990.00'))

    def test_someone_elses_order_is_not_found(self):
        self.post('/api/v1/cart/', {'variant': self.small.id})
        order_id = self.post('/api/v1/orders/', {}).json()['id']
        User.objects.create_user('boris', '', 'pw')
        token = self.client.post('/api/v1/auth/login/', {'username': 'boris', 'password': 'pw'},
                                 content_type='application/json').json()['token']
        self.assertEqual(self.client.get('/api/v1/orders/%d/' % order_id,
                                         HTTP_AUTHORIZATION='Token ' + token).status_code, 404)
