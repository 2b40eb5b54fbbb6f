from decimal import Decimal

from django.test import TestCase

from products.models import ColorMapping, Product, ProductVariant

from .helpers import make_catalog


class ApiV2Tests(TestCase):
    def setUp(self):
        category, brand = make_catalog()
        red = ColorMapping.objects.get(name='Красный')
        for n in range(25):
            product = Product.objects.create(onec_id='p-%02d' % n, name='Товар %02d' % n, slug='tovar-%02d' % n,
                                             category=category, brand=brand)
            ProductVariant.objects.create(product=product, onec_id='p-%02d#1' % n, sku='S-%02d' % n, color=red,
                                          color_name='Красный', size='M', retail_price=Decimal('1990.00'),
                                          opt_price=Decimal('1393.00'), stock_quantity=5)

    def test_product_list_is_paginated(self):
        body = self.client.get('/api/v1/products/').json()
        self.assertEqual(body['count'], 25)
        self.assertEqual(len(body['results']), 20)
        self.assertIsNotNone(body['next'])
        first = body['results'][0]
        self.assertEqual(first['category'], 'obuv')
        self.assertEqual(first['brand'], 'Nike')
        self.assertNotIn('retail_price', first)

    def test_product_detail_has_variants(self):
        response = self.client.get('/api/v1/products/tovar-03/')
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertNotIn('retail_price', body)
        self.assertEqual(len(body['variants']), 1)
        variant = body['variants'][0]
        self.assertEqual(variant['color'], {'name': 'Красный', 'hex_code': '#FF0000'})
        self.assertEqual((variant['retail_price'], variant['opt_price'], variant['stock_quantity']),
                         ('1990.00', '1393.00', 5))

    def test_unknown_slug_is_404(self):
        self.assertEqual(self.client.get('/api/v1/products/nope/').status_code, 404)

    def test_categories(self):
        body = self.client.get('/api/v1/categories/').json()
        self.assertEqual(body, [{'id': body[0]['id'], 'name': 'Обувь', 'slug': 'obuv', 'parent': None}])

    def test_health_says_release_2(self):
        body = self.client.get('/api/health/').json()
        self.assertEqual(body['release'], '2.0')
