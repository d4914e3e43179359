"""The client's address, as every throttle (login, SMS codes, POS) must see it.

`X-Forwarded-For` is honoured only through `TRUSTED_PROXY_COUNT` proxies of our own
(django-ipware does the parsing); with no trusted proxy the header is ignored, so a
client cannot pick the address it is throttled under.
"""

from django.conf import settings
from django.http import HttpRequest
from ipware import get_client_ip


def client_ip(request: HttpRequest) -> str:
    """The address to throttle `request` by: REMOTE_ADDR, or the address our last
    trusted proxy saw when `TRUSTED_PROXY_COUNT` > 0."""
    remote = request.META.get("REMOTE_ADDR") or "0.0.0.0"
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if count <= 0:
        return remote
    ip, _routable = get_client_ip(
        request,
        proxy_count=count,
        proxy_order="right-most",
        request_header_order=["HTTP_X_FORWARDED_FOR"],
    )
    return ip or remote
