import re

import pytest
from rest_framework.test import APIClient

from merchants.models import Merchant, Store, Terminal, hash_api_key
from merchants.services.terminals import terminal_create, terminal_revoke, terminal_rotate_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    merchant = Merchant.objects.create(name="A", slug="a")
    return Store.objects.create(merchant=merchant, name="Main", code="main")


def balance_status(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client.get("/api/v1/members/NOPE/balance").status_code


def test_a_new_key_is_random_stored_only_as_a_hash_and_works(store):
    terminal, raw_key = terminal_create(store=store, name="Till 1")
    _, other_key = terminal_create(store=store, name="Till 2")

    assert raw_key.startswith("jf_") and len(raw_key) > 40 and raw_key != other_key
    stored = Terminal.objects.get(pk=terminal.pk)
    assert stored.key_hash == hash_api_key(raw_key) and raw_key not in stored.key_hash
    assert stored.key_hint == raw_key[:8]
    assert balance_status(raw_key) == 400  # authenticated; "NOPE" is no member number


def test_revoked_and_rotated_keys_stop_working(store):
    terminal, raw_key = terminal_create(store=store, name="Till 1")
    new_key = terminal_rotate_key(terminal=terminal)
    assert balance_status(raw_key) == 401
    assert balance_status(new_key) == 400
    terminal_revoke(terminal=terminal)
    assert balance_status(new_key) == 401


def test_admin_shows_a_new_terminal_key_once(store, admin_client):
    response = admin_client.post(
        "/admin/merchants/terminal/add/",
        {"store": store.pk, "name": "Till 9", "active": "on"},
        follow=True,
    )
    terminal = Terminal.objects.get(name="Till 9")
    shown = [str(m) for m in response.context["messages"]]
    key = next(re.search(r"jf_[A-Za-z0-9_-]+", text).group(0) for text in shown if "jf_" in text)
    assert hash_api_key(key) == terminal.key_hash
    assert balance_status(key) == 400
    assert (
        key
        not in admin_client.get(f"/admin/merchants/terminal/{terminal.pk}/change/").content.decode()
    )
