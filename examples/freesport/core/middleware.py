"""While maintenance mode is on, every /api/ request answers 503 with Retry-After, except a request
that carries the bypass token (X-Maintenance-Bypass) configured on the server: the checks that run
while the shop is still closed to customers."""
import hmac

from django.conf import settings
from django.http import JsonResponse

from . import maintenance

BYPASS_HEADER = 'X-Maintenance-Bypass'
_BYPASS_META = 'HTTP_' + BYPASS_HEADER.upper().replace('-', '_')


def has_valid_bypass(request):
    """True when the server has a non-empty bypass token and the request carries exactly it."""
    token = getattr(settings, 'FREESPORT_MAINTENANCE_BYPASS_TOKEN', '') or ''
    given = request.META.get(_BYPASS_META, '')
    if not token or not given:
        return False
    return hmac.compare_digest(given.encode('utf-8', 'surrogateescape'), token.encode('utf-8', 'surrogateescape'))


class MaintenanceModeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.maintenance_bypass = False
        if request.path.startswith('/api/') and maintenance.is_on():
            if has_valid_bypass(request):
                request.maintenance_bypass = True
                return self.get_response(request)
            if request.path.startswith('/api/health/'):
                from .views import health_payload
                body = health_payload()
            else:
                body = {'detail': 'The shop is under maintenance, please retry later.', 'maintenance': True}
            response = JsonResponse(body, status=503)
            response['Retry-After'] = str(settings.FREESPORT_RETRY_AFTER)
            return response
        return self.get_response(request)
