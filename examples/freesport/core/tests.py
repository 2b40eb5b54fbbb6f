import json
import shutil
import tempfile
from io import StringIO

from django.core.management import call_command
from django.test import TestCase, override_settings

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
