"""The client's address, as every throttle (login, SMS codes, POS) must see it.

`X-Forwarded-For` is honoured only through `TRUSTED_PROXY_COUNT` proxies of our own
(django-ipware does the parsing); with no trusted proxy the header is ignored, so a
client cannot pick the address it is throttled under.

With N trusted proxies, each appending the address it was reached from, the client is the
N-th entry from the right of `X-Forwarded-For` (the last proxy is REMOTE_ADDR itself).
Entries further left were written by the client and are never used. In django-ipware's
terms the header is "client, proxy1, …" and its `proxy_count` counts the proxies after the
client *in the header*: N − 1.
"""

from django.conf import settings
from django.http import HttpRequest
from ipware import get_client_ip


def client_ip(request: HttpRequest) -> str:
    """The address to throttle `request` by: REMOTE_ADDR, or the address our outermost
    trusted proxy was reached from when `TRUSTED_PROXY_COUNT` > 0. A header shorter than
    the trusted chain, or not an address, is ignored (REMOTE_ADDR)."""
    remote = request.META.get("REMOTE_ADDR") or "0.0.0.0"
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if count <= 0:
        return remote
    ip, _routable = get_client_ip(
        request,
        proxy_count=count - 1,
        proxy_order="left-most",
        request_header_order=["HTTP_X_FORWARDED_FOR"],
        strict=False,
    )
    return ip or remote
