"""Login throttling that a stranger cannot turn against a victim (django-axes).

Failures are counted per (username, client address): AXES_FAILURE_LIMIT of them lock that
username *from that address* only, so the owner logging in from elsewhere is not locked
out. Separately, AXES_FAILURES_PER_ADDRESS failures from one address (any usernames) lock
that address: password spraying stops too. The address is `config.client_ip.client_ip`
(X-Forwarded-For only through TRUSTED_PROXY_COUNT proxies), wired in by
AXES_CLIENT_IP_CALLABLE.
"""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from django.conf import settings
from django.db.models import Sum

# AXES_LOCKOUT_PARAMETERS, in this order: the handler reads the counts by position.
LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]


class AddressAwareAxesHandler(AxesDatabaseHandler):
    """Axes' database handler with a second, higher limit for the address alone."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        by_user_and_address, by_address = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        if by_address >= settings.AXES_FAILURES_PER_ADDRESS:
            # Reported as at the limit: axes then locks, whatever the username.
            return max(by_user_and_address, get_failure_limit(request, credentials))
        return by_user_and_address
