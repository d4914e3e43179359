"""The ledger integrity page: chain head, last verification, and running it as a task."""

import pytest

from points.models import LedgerSeal
from points.services.sealing import ledger_seal
from reports.models import LedgerVerification
from tests.points.helpers import buy, earn

pytestmark = pytest.mark.django_db


def test_the_page_shows_the_chain_head(make_member, issuer, staff_client):
    earn(make_member(), issuer, 50)
    ledger_seal()

    body = staff_client.get("/staff/integrity/").content.decode()

    head = LedgerSeal.objects.order_by("-id").first()
    assert head.hash in body
    assert f"#{head.transaction_id}" in body


def test_the_button_runs_verify_ledger_as_a_task_and_keeps_the_result(
    make_member, merchant, staff_client, platform_staff, django_capture_on_commit_callbacks
):
    buy(make_member(), merchant, 5000)  # a purchase: reconciliation finds its document

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/staff/integrity/run/")

    assert response.status_code == 302
    run = LedgerVerification.objects.get()
    assert (run.ok, run.requested_by, run.transactions, run.problems) == (
        True,
        platform_staff.username,
        2,  # the purchase's earn and its first-purchase bonus
        [],
    )
    assert run.finished_at is not None
    assert "通过" in staff_client.get("/staff/integrity/").content.decode()


def test_running_it_needs_a_post(staff_client):
    assert staff_client.get("/staff/integrity/run/").status_code == 405
    assert LedgerVerification.objects.count() == 0


def test_seal_now_seals_signs_and_shows_the_latest_checkpoint(make_member, issuer, staff_client):
    from django.test import TestCase

    from points.models import LedgerCheckpoint

    earn(make_member(), issuer, 50)

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = staff_client.post("/staff/integrity/seal/")

    assert response.status_code == 302
    checkpoint = LedgerCheckpoint.objects.get()
    body = staff_client.get("/staff/integrity/").content.decode()
    assert checkpoint.head_hash in body and f"#{checkpoint.seq}" in body


def test_seal_now_needs_a_post_by_platform_staff(make_member, issuer, staff_client, client):
    earn(make_member(), issuer, 50)

    assert staff_client.get("/staff/integrity/seal/").status_code == 405
    client.force_login(make_member().user)
    assert client.post("/staff/integrity/seal/").status_code == 403
    assert LedgerSeal.objects.count() == 0
