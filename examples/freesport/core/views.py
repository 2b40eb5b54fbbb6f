"""GET /api/health/: database reachable, release, applied migrations, maintenance flag."""
from django.db import connection
from django.http import JsonResponse

from freesport.release import RELEASE

from . import maintenance


def health_payload():
    payload = {'status': 'ok', 'release': RELEASE, 'database': False, 'migrations_applied': None,
               'maintenance': False}
    flag = maintenance.status()
    if flag is not None:
        payload.update(status='maintenance', maintenance=True, maintenance_since=flag.get('since'))
    try:
        with connection.cursor() as cursor:
            cursor.execute('SELECT count(*) FROM django_migrations')
            payload['migrations_applied'] = cursor.fetchone()[0]
        payload['database'] = True
    except Exception as exc:  # noqa: BLE001 - any database failure makes the app unhealthy
        payload['database_error'] = exc.__class__.__name__
        if payload['status'] == 'ok':
            payload['status'] = 'error'
    return payload


def health(request):
    payload = health_payload()
    ok = payload['database'] and not payload['maintenance']
    return JsonResponse(payload, status=200 if ok else 503)
