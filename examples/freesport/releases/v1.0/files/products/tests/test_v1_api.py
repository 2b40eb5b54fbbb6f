from decimal import Decimal

from django.test import TestCase

from products.models import Product

from .helpers import make_catalog


class ApiV1Tests(TestCase):
    def setUp(self):
        category, brand = make_catalog()
        Product.objects.create(onec_id='p-1', name='Мяч', slug='myach', category=category, brand=brand,
                               retail_price=Decimal('1990.00'), stock_quantity=7)

    def test_product_detail_has_price_and_stock(self):
        body = self.client.get('/api/v1/products/myach/').json()
        self.assertEqual((body['retail_price'], body['stock_quantity']), ('1990.00', 7))
        self.assertNotIn('variants', body)

    def test_product_list(self):
        body = self.client.get('/api/v1/products/').json()
        self.assertEqual(body['count'], 1)
        self.assertEqual(body['results'][0]['retail_price'], '1990.00')

    def test_health_says_release_1(self):
        self.assertEqual(self.client.get('/api/health/').json()['release'], '1.0')
