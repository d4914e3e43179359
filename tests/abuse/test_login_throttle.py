"""Login throttling that cannot be turned against a victim: a username is locked only from
the failing address, an address past its own limit is locked for everyone, and the address
comes from X-Forwarded-For only through trusted proxies."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory

from config.client_ip import client_ip

PASSWORD = "correct-horse-battery-9"
A, B, PROXY = "203.0.113.10", "198.51.100.20", "10.0.0.2"


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(username="staff", password=PASSWORD, is_staff=True)


def login(username, password, remote=A, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return Client().post("/accounts/login/", {"username": username, "password": password}, **extra)


def fail(times, username="staff", **where):
    for _ in range(times):
        assert login(username, "wrong-password", **where).status_code in (200, 429)


def logged_in(response) -> bool:
    return response.status_code == 302


def test_failures_from_one_address_lock_that_address_only(staff, settings):
    fail(settings.AXES_FAILURE_LIMIT, remote=A)

    assert login("staff", PASSWORD, remote=A).status_code == 429
    assert logged_in(login("staff", PASSWORD, remote=B))


def test_a_forged_forwarded_header_is_ignored_without_a_trusted_proxy(staff, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(settings.AXES_FAILURE_LIMIT):
        login("staff", "wrong-password", remote=A, forwarded=f"192.0.2.{n}")

    assert login("staff", PASSWORD, remote=A, forwarded=B).status_code == 429


def test_the_forwarded_address_is_honoured_behind_one_trusted_proxy(staff, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    fail(settings.AXES_FAILURE_LIMIT, remote=PROXY, forwarded=A)

    assert login("staff", PASSWORD, remote=PROXY, forwarded=A).status_code == 429
    # Everyone else behind the same proxy still logs in.
    assert logged_in(login("staff", PASSWORD, remote=PROXY, forwarded=B))


def test_a_stranger_cannot_pick_another_address_through_a_trusted_proxy(staff, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The stranger writes X-Forwarded-For himself; the proxy appends his real address.
    for n in range(settings.AXES_FAILURE_LIMIT):
        login("staff", "wrong-password", remote=PROXY, forwarded=f"192.0.2.{n}, {A}")

    assert login("staff", PASSWORD, remote=PROXY, forwarded=A).status_code == 429
    assert logged_in(login("staff", PASSWORD, remote=PROXY, forwarded=B))


def test_an_address_spraying_many_usernames_is_locked_for_all(staff, settings):
    settings.AXES_FAILURES_PER_ADDRESS = 8
    for n in range(8):
        login(f"user{n}", "wrong-password", remote=A)

    assert login("staff", PASSWORD, remote=A).status_code == 429
    assert logged_in(login("staff", PASSWORD, remote=B))


def test_failures_under_both_limits_lock_nothing(staff, settings):
    fail(settings.AXES_FAILURE_LIMIT - 1, remote=A)

    assert logged_in(login("staff", PASSWORD, remote=A))


# --- client_ip ---------------------------------------------------------------------------


def request_from(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote} if remote is not None else {}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    request = RequestFactory().get("/", **extra)
    if remote is None:
        request.META.pop("REMOTE_ADDR", None)
    return request


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        (0, A, None, A),
        (0, A, B, A),  # no trusted proxy: the header is ignored
        (0, A, "garbage", A),
        (1, PROXY, A, A),  # nginx: X-Forwarded-For = the client it saw
        (1, PROXY, f"{B}, {A}", A),  # the client's own entry (B) is not believed
        (1, PROXY, f"{B},{A}", A),
        (2, PROXY, f"{B}, {A}, 10.0.0.1", A),
        (2, PROXY, A, PROXY),  # shorter than the trusted chain: not believed
        (1, PROXY, None, PROXY),
        (1, PROXY, "", PROXY),
        (1, PROXY, "not-an-address", PROXY),
        (1, PROXY, "999.1.1.1", PROXY),
        (1, PROXY, "\udcff\udcfe", PROXY),  # non-UTF-8 bytes as WSGI passes them
        (1, PROXY, "1" * 10_000, PROXY),
        (1, PROXY, "2001:db8::1", "2001:db8::1"),
        (0, None, None, "0.0.0.0"),
    ],
)
def test_client_ip(settings, proxies, remote, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies

    assert client_ip(request_from(remote, forwarded)) == expected


def test_axes_uses_the_same_client_address(settings):
    from axes.helpers import get_client_ip_address

    settings.TRUSTED_PROXY_COUNT = 1
    request = request_from(PROXY, f"{B}, {A}")

    assert get_client_ip_address(request) == client_ip(request) == A
