"""While maintenance mode is on, every /api/ request answers 503 with Retry-After."""
from django.conf import settings
from django.http import JsonResponse

from . import maintenance


class MaintenanceModeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith('/api/') and maintenance.is_on():
            if request.path.startswith('/api/health/'):
                from .views import health_payload
                body = health_payload()
            else:
                body = {'detail': 'The shop is under maintenance, please retry later.', 'maintenance': True}
            response = JsonResponse(body, status=503)
            response['Retry-After'] = str(settings.FREESPORT_RETRY_AFTER)
            return response
        return self.get_response(request)
