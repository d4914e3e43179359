"""Answer /healthz before host validation and the HTTPS redirect.

Load balancers and the container HEALTHCHECK probe each replica by its own address over
plain HTTP (`Host: 10.0.3.7:8000`), which production settings would refuse (ALLOWED_HOSTS)
or redirect (SECURE_SSL_REDIRECT). This middleware goes first in production and hands the
probe straight to the health view, which checks the database and says nothing else.
"""

from config.views import healthz

HEALTH_PATH = "/healthz"


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == HEALTH_PATH:
            return healthz(request)
        return self.get_response(request)
