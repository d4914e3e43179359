"""Revoking a terminal key is final; inactive stores and merchants are refused; every key
event is recorded with its actor and shown in admin."""

import json

import pytest
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from merchants.models import Merchant, Store, Terminal, TerminalKeyEvent, hash_api_key
from merchants.services.terminals import (
    TerminalRevoked,
    terminal_create,
    terminal_revoke,
    terminal_rotate_key,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    merchant = Merchant.objects.create(name="A", slug="a")
    return Store.objects.create(merchant=merchant, name="Main", code="main")


def pos_post(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client.post(
        "/api/v1/purchases",
        data=json.dumps({"member_no": "M404", "receipt_no": "R", "lines": []}),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )


def change_form_data(terminal, **overrides):
    return {
        "store": terminal.store_id,
        "name": terminal.name,
        "active": "on",
        **overrides,
    }


def test_revoking_destroys_the_key_hash(store):
    terminal, raw_key = terminal_create(store=store, name="Till 1")

    terminal_revoke(terminal=terminal, actor="user:boss")

    stored = Terminal.objects.get(pk=terminal.pk)
    assert stored.key_hash != hash_api_key(raw_key) and not stored.active
    assert pos_post(raw_key).status_code == 401


def test_revoke_then_reactivate_through_the_admin_form_keeps_the_key_refused(store, admin_client):
    terminal, raw_key = terminal_create(store=store, name="Till 1")
    terminal_revoke(terminal=terminal)

    response = admin_client.post(
        f"/admin/merchants/terminal/{terminal.pk}/change/", change_form_data(terminal)
    )

    assert response.status_code in (200, 302)
    assert not Terminal.objects.get(pk=terminal.pk).active
    assert pos_post(raw_key).status_code == 401


def test_the_database_refuses_to_reactivate_a_revoked_terminal(store):
    terminal, _ = terminal_create(store=store, name="Till 1")
    terminal_revoke(terminal=terminal)

    with pytest.raises(IntegrityError), transaction.atomic():
        Terminal.objects.filter(pk=terminal.pk).update(active=True)


def test_a_revoked_terminal_gets_no_new_key(store, admin_client):
    terminal, _ = terminal_create(store=store, name="Till 1")
    terminal_revoke(terminal=terminal)

    with pytest.raises(TerminalRevoked):
        terminal_rotate_key(terminal=terminal)
    response = admin_client.post(
        "/admin/merchants/terminal/",
        {"action": "rotate_key", "_selected_action": [terminal.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "jf_" not in " ".join(str(m) for m in response.context["messages"])


def test_a_deactivated_terminal_can_be_switched_back_on(store):
    terminal, raw_key = terminal_create(store=store, name="Till 1")
    Terminal.objects.filter(pk=terminal.pk).update(active=False)
    assert pos_post(raw_key).json()["error"]["code"] == "terminal_inactive"

    Terminal.objects.filter(pk=terminal.pk).update(active=True)
    assert pos_post(raw_key).status_code != 403


@pytest.mark.parametrize("inactive", ["store", "merchant"])
def test_a_terminal_of_an_inactive_store_or_merchant_is_403(store, inactive):
    _, raw_key = terminal_create(store=store, name="Till 1")
    owner = store if inactive == "store" else store.merchant
    owner.active = False
    owner.save()

    response = pos_post(raw_key)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "terminal_inactive"
    balance = APIClient()
    balance.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert balance.get("/api/v1/members/M404/balance").status_code == 403


def test_every_key_event_is_recorded_with_actor_and_shown_in_admin(store, admin_client, admin_user):
    response = admin_client.post(
        "/admin/merchants/terminal/add/",
        {**change_form_data(Terminal(store=store, name="Till 9"))},
        follow=True,
    )
    assert response.status_code == 200
    terminal = Terminal.objects.get(name="Till 9")
    terminal_rotate_key(terminal=terminal, actor="user:rotator")
    admin_client.post(
        "/admin/merchants/terminal/",
        {"action": "revoke", "_selected_action": [terminal.pk]},
    )

    events = list(
        TerminalKeyEvent.objects.filter(terminal=terminal)
        .order_by("at", "id")
        .values_list("kind", "actor")
    )
    assert events == [
        ("created", f"user:{admin_user.username}"),
        ("rotated", "user:rotator"),
        ("revoked", f"user:{admin_user.username}"),
    ]
    page = admin_client.get(f"/admin/merchants/terminal/{terminal.pk}/change/").content.decode()
    assert "user:rotator" in page
