"""GET /api/health/: database reachable, release, applied migrations, maintenance flag."""
from django.db import connection
from django.http import JsonResponse

from freesport.release import RELEASE

from . import maintenance


def health_payload(bypass=False):
    """The health answer. With `bypass` (a request carrying the valid maintenance bypass token) the
    status is judged as if maintenance were off, while `maintenance` still tells the truth."""
    payload = {'status': 'ok', 'release': RELEASE, 'database': False, 'migrations_applied': None,
               'maintenance': False}
    flag = maintenance.status()
    if flag is not None:
        payload.update(maintenance=True, maintenance_since=flag.get('since'))
        if bypass:
            payload['maintenance_bypass'] = True
        else:
            payload['status'] = 'maintenance'
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
    bypass = getattr(request, 'maintenance_bypass', False)
    payload = health_payload(bypass=bypass)
    ok = payload['database'] and (bypass or not payload['maintenance'])
    return JsonResponse(payload, status=200 if ok else 503)
