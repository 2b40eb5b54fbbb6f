"""A customer's way through release 1.0: log in, put a Product in the cart, place the order."""
from decimal import Decimal

from django.contrib.auth.models import User
from django.test import TestCase

from orders.models import CartItem, Order
from products.models import Product

from .helpers import make_catalog


class CustomerV1Tests(TestCase):
    def setUp(self):
        category, brand = make_catalog()
        Product.objects.create(onec_id='p-1', name='Мяч', slug='myach', article='M-1', category=category,
                               brand=brand, retail_price=Decimal('1990.00'), stock_quantity=7)
        User.objects.create_user('anna', '', 's3cret')
        login = self.client.post('/api/v1/auth/login/', {'username': 'anna', 'password': 's3cret'},
                                 content_type='application/json')
        self.assertEqual(login.status_code, 200)
        self.assertIsNotNone(User.objects.get(username='anna').last_login)
        self.auth = {'HTTP_AUTHORIZATION': 'Token ' + login.json()['token']}

    def post(self, url, data):
        return self.client.post(url, data, content_type='application/json', **self.auth)

    def test_product_to_cart_to_order(self):
        added = self.post('/api/v1/cart/', {'product': 'myach', 'quantity': 3})
        self.assertEqual(added.status_code, 201)
        self.assertEqual((added.json()['product_onec_id'], added.json()['price']), ('p-1', '1990.00'))
        order = self.post('/api/v1/orders/', {'delivery_address': 'Москва'})
        self.assertEqual(order.status_code, 201)
        body = order.json()
        self.assertEqual(body['total_amount'], '5970.00')
        self.assertEqual([(i['product_sku'], i['quantity']) for i in body['items']], [('M-1', 3)])
        self.assertTrue(Order.objects.filter(pk=body['id']).exists())
        self.assertEqual(CartItem.objects.count(), 0)

    def test_a_variant_alone_is_not_enough_in_1_0(self):
        self.assertEqual(self.post('/api/v1/cart/', {'variant': 1}).status_code, 400)
        self.assertEqual(self.post('/api/v1/cart/', {'product': 'myach', 'variant': 1}).status_code, 201)
        self.assertEqual(self.post('/api/v1/cart/', {'product': 'nope'}).status_code, 404)
