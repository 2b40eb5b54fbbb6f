import json
import shutil
import tempfile
from io import StringIO
from unittest import mock

from django.contrib.auth.models import User
from django.core import signing
from django.core.management import call_command
from django.test import TestCase, override_settings

from core import accounts
from orders.models import CartItem, Order

from freesport.dburl import DatabaseUrlError, parse_database_url


class MaintenanceTests(TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='freesport-maintenance-')
        self.addCleanup(shutil.rmtree, self.dir)
        override = override_settings(FREESPORT_MAINTENANCE_DIR=self.dir, FREESPORT_RETRY_AFTER=120)
        override.enable()
        self.addCleanup(override.disable)

    def command(self, *args):
        out = StringIO()
        call_command('maintenance', *args, stdout=out)
        return out.getvalue()

    def test_health_when_up(self):
        response = self.client.get('/api/health/')
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertIs(body['database'], True)
        self.assertIs(body['maintenance'], False)
        self.assertGreater(body['migrations_applied'], 10)
        self.assertIn(body['release'], ('1.0', '2.0'))

    def test_maintenance_on_answers_503_everywhere_in_the_api(self):
        self.command('on', '--reason', 'catalog migration')
        for url in ('/api/v1/products/', '/api/v1/categories/', '/api/v1/products/any/'):
            response = self.client.get(url)
            self.assertEqual(response.status_code, 503, url)
            self.assertEqual(response['Retry-After'], '120')
        health = self.client.get('/api/health/')
        self.assertEqual(health.status_code, 503)
        self.assertIs(health.json()['maintenance'], True)
        self.assertIs(health.json()['database'], True)
        self.assertEqual(health['Retry-After'], '120')
        status = json.loads(self.command('status'))
        self.assertEqual((status['maintenance'], status['reason']), (True, 'catalog migration'))

    def test_maintenance_off_restores_service(self):
        self.command('on')
        self.assertIn('maintenance off', self.command('off'))
        self.assertEqual(self.client.get('/api/v1/products/').status_code, 200)
        self.assertEqual(json.loads(self.command('status'))['maintenance'], False)
        self.assertIn('it was not on', self.command('off'))


class MaintenanceBypassTests(TestCase):
    """X-Maintenance-Bypass: the runner's checks pass the maintenance mode, customers do not."""
    TOKEN = 'runner-token-3f9a'

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='freesport-maintenance-')
        self.addCleanup(shutil.rmtree, self.dir)
        self.settings_for(self.TOKEN)
        call_command('maintenance', 'on', stdout=StringIO())

    def settings_for(self, token):
        override = override_settings(FREESPORT_MAINTENANCE_DIR=self.dir, FREESPORT_RETRY_AFTER=120,
                                     FREESPORT_MAINTENANCE_BYPASS_TOKEN=token)
        override.enable()
        self.addCleanup(override.disable)

    def get(self, url, header=None):
        extra = {} if header is None else {'HTTP_X_MAINTENANCE_BYPASS': header}
        return self.client.get(url, **extra)

    def test_valid_token_passes_the_api(self):
        for url in ('/api/v1/products/', '/api/v1/categories/'):
            response = self.get(url, self.TOKEN)
            self.assertEqual(response.status_code, 200, url)
            self.assertNotIn('Retry-After', response)
        self.assertEqual(self.get('/api/v1/products/no-such-slug/', self.TOKEN).status_code, 404)

    def test_valid_token_health_answers_as_if_open_but_says_maintenance(self):
        response = self.get('/api/health/', self.TOKEN)
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertEqual(body['status'], 'ok')
        self.assertIs(body['maintenance'], True)
        self.assertIs(body['maintenance_bypass'], True)
        self.assertIs(body['database'], True)
        self.assertIsNotNone(body['maintenance_since'])

    def test_wrong_token_is_503(self):
        for header in ('wrong', self.TOKEN + 'x', self.TOKEN[:-1], self.TOKEN.upper(), ' ' + self.TOKEN, 'токен'):
            for url in ('/api/v1/products/', '/api/health/'):
                response = self.get(url, header)
                self.assertEqual(response.status_code, 503, (header, url))
                self.assertEqual(response['Retry-After'], '120')
        health = self.get('/api/health/', 'wrong').json()
        self.assertEqual((health['status'], health['maintenance']), ('maintenance', True))
        self.assertNotIn('maintenance_bypass', health)

    def test_no_header_is_503(self):
        self.assertEqual(self.get('/api/v1/products/').status_code, 503)
        self.assertEqual(self.get('/api/health/').status_code, 503)

    def test_no_token_configured_means_no_bypass(self):
        self.settings_for('')
        for header in ('', 'anything', self.TOKEN):
            self.assertEqual(self.get('/api/v1/products/', header).status_code, 503, header)
            self.assertEqual(self.get('/api/health/', header).status_code, 503, header)

    def test_the_token_is_compared_in_constant_time(self):
        with mock.patch('core.middleware.hmac.compare_digest', wraps=__import__('hmac').compare_digest) as cmp:
            self.assertEqual(self.get('/api/v1/products/', 'wrong').status_code, 503)
            self.assertEqual(self.get('/api/v1/products/', self.TOKEN).status_code, 200)
        self.assertEqual(cmp.call_count, 2)

    def test_header_without_maintenance_changes_nothing(self):
        call_command('maintenance', 'off', stdout=StringIO())
        for header in (None, 'wrong', self.TOKEN):
            response = self.get('/api/health/', header)
            self.assertEqual(response.status_code, 200)
            self.assertEqual((response.json()['status'], response.json()['maintenance']), ('ok', False))
            self.assertNotIn('maintenance_bypass', response.json())

    def test_bypass_reaches_writes_too(self):
        User.objects.create_user('runner', '', 'pw')
        login = self.client.post('/api/v1/auth/login/', {'username': 'runner', 'password': 'pw'},
                                 content_type='application/json', HTTP_X_MAINTENANCE_BYPASS=self.TOKEN)
        self.assertEqual(login.status_code, 200)
        self.assertEqual(self.client.post('/api/v1/auth/login/', {'username': 'runner', 'password': 'pw'},
                                          content_type='application/json').status_code, 503)


class AccountApiTests(TestCase):
    def post(self, url, data, **extra):
        return self.client.post(url, data, content_type='application/json', **extra)

    def test_register_then_login_updates_last_login(self):
        response = self.post('/api/v1/auth/register/', {'username': 'anna', 'password': 's3cret', 'email': 'a@b.c'})
        self.assertEqual(response.status_code, 201)
        user = User.objects.get(username='anna')
        self.assertEqual(response.json(), {'id': user.id, 'username': 'anna'})
        self.assertIsNone(user.last_login)
        login = self.post('/api/v1/auth/login/', {'username': 'anna', 'password': 's3cret'})
        self.assertEqual(login.status_code, 200)
        user.refresh_from_db()
        self.assertIsNotNone(user.last_login)
        body = login.json()
        self.assertEqual(body['user'], {'id': user.id, 'username': 'anna'})
        first = user.last_login
        self.post('/api/v1/auth/login/', {'username': 'anna', 'password': 's3cret'})
        user.refresh_from_db()
        self.assertGreater(user.last_login, first)
        cart = self.client.get('/api/v1/cart/', HTTP_AUTHORIZATION='Token ' + body['token'])
        self.assertEqual(cart.status_code, 200)
        self.assertEqual(cart.json(), {'items': [], 'total_amount': '0.00'})

    def test_register_refuses_a_taken_or_bad_username(self):
        User.objects.create_user('anna', '', 'x')
        self.assertEqual(self.post('/api/v1/auth/register/', {'username': 'anna', 'password': 'y'}).status_code, 409)
        for data in ({'username': '', 'password': 'y'}, {'username': 'a b', 'password': 'y'},
                     {'username': 'bob', 'password': ''}, {'username': 'bob'}, {'username': 1, 'password': 'y'}):
            self.assertEqual(self.post('/api/v1/auth/register/', data).status_code, 400, data)
        self.assertEqual(User.objects.count(), 1)

    def test_wrong_password_or_unknown_user_is_401(self):
        User.objects.create_user('anna', '', 'right')
        for data in ({'username': 'anna', 'password': 'wrong'}, {'username': 'nobody', 'password': 'right'}, {}):
            self.assertEqual(self.post('/api/v1/auth/login/', data).status_code, 401, data)
        self.assertIsNone(User.objects.get(username='anna').last_login)

    def test_customer_endpoints_need_a_valid_token(self):
        user = User.objects.create_user('anna', '', 'right')
        forged = signing.dumps({'u': user.id, 'h': 'x' * 20}, salt=accounts.TOKEN_SALT)
        other_key = signing.dumps({'u': user.id}, salt='something else')
        for header in (None, 'Token', 'Token nonsense', 'Token ' + forged, 'Token ' + other_key, 'Bearer abc'):
            extra = {} if header is None else {'HTTP_AUTHORIZATION': header}
            for method, url in (('get', '/api/v1/cart/'), ('post', '/api/v1/cart/'), ('post', '/api/v1/orders/'),
                                ('get', '/api/v1/orders/')):
                response = getattr(self.client, method)(url, **extra)
                self.assertEqual(response.status_code, 401, (header, url))
        token = accounts.issue_token(user)
        self.assertEqual(self.client.get('/api/v1/orders/', HTTP_AUTHORIZATION='Token ' + token).status_code, 200)
        user.set_password('changed')
        user.save()
        self.assertEqual(self.client.get('/api/v1/orders/', HTTP_AUTHORIZATION='Token ' + token).status_code, 401)

    def test_an_expired_token_is_refused(self):
        token = accounts.issue_token(User.objects.create_user('anna', '', 'right'))
        with override_settings(FREESPORT_TOKEN_MAX_AGE=-1):
            response = self.client.get('/api/v1/cart/', HTTP_AUTHORIZATION='Token ' + token)
        self.assertEqual(response.status_code, 401)
        self.assertIn('expired', response.json()['detail'])

    def test_an_empty_cart_places_no_order(self):
        user = User.objects.create_user('anna', '', 'right')
        response = self.post('/api/v1/orders/', {}, HTTP_AUTHORIZATION='Token ' + accounts.issue_token(user))
        self.assertEqual(response.status_code, 400)
        self.assertEqual(Order.objects.count(), 0)
        self.assertEqual(CartItem.objects.count(), 0)


class DatabaseUrlTests(TestCase):
    def test_special_characters_in_password(self):
        config = parse_database_url('postgres://shop:p%40ss%3Aw%2Frd%25@db.example:6543/freesport?sslmode=require')
        self.assertEqual((config['USER'], config['PASSWORD'], config['HOST'], config['PORT'], config['NAME']),
                         ('shop', 'p@ss:w/rd%', 'db.example', '6543', 'freesport'))
        self.assertEqual(config['OPTIONS'], {'sslmode': 'require'})

    def test_socket_directory(self):
        self.assertEqual(parse_database_url('postgresql://u@%2Ftmp%2Fpg:5433/db')['HOST'], '/tmp/pg')
        config = parse_database_url('postgresql://u:x@/db?host=/run/postgresql&port=5444')
        self.assertEqual((config['HOST'], config['PORT']), ('/run/postgresql', '5444'))

    def test_bad_urls_are_named(self):
        for url, message in (('', 'not set'), ('mysql://u@h/db', 'scheme'), ('postgres://u@h/', 'no database'),
                             ('postgres://u@h:port/db', 'port')):
            with self.assertRaisesRegex(DatabaseUrlError, message):
                parse_database_url(url)
