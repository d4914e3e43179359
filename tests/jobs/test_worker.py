"""A real Celery worker (a thread of this process) against Redis and the test database."""

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.db import transaction
from django.utils import timezone

from config.celery_app import app
from points.models import LedgerTransaction, Notification, PointLot
from points.services.accounts import expiry_account
from points.services.purchases import LineRequest, purchase_record
from points.tasks import expire_points_task
from tests.points.conftest import make_shop
from tests.points.helpers import earn, standard


@pytest.fixture
def celery_worker_live(transactional_db):
    app.conf.task_always_eager = False
    app.control.purge()  # nothing left over from an earlier run
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = True


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_an_earn_queues_a_notification_email_that_the_worker_sends(celery_worker_live, make_member):
    terminal = make_shop("shop-w", "jf_test_key_worker_0001")
    member = make_member(email="worker@example.com")

    with transaction.atomic():
        purchase_record(
            merchant=terminal.store.merchant,
            member=member,
            receipt_no="W-1",
            occurred_at=timezone.now(),
            lines=[LineRequest(line_no=1, quantity=2, amount_fen=3000, category="pens")],
            terminal=terminal,
        )
        notice = Notification.objects.get(member=member, kind=Notification.Kind.POINTS)
        # Queued on commit: nothing can have been sent while the transaction is open.
        assert notice.email_status == Notification.EmailStatus.PENDING

    assert wait_for(
        lambda: Notification.objects.get(pk=notice.pk).email_status == Notification.EmailStatus.SENT
    )
    assert [m.to for m in mail.outbox] == [["worker@example.com"]]


def test_the_expiry_task_expires_due_lots_end_to_end(
    celery_worker_live, make_member, issuer, ledger_ok
):
    members = [make_member() for _ in range(3)]
    for member in members:
        earn(member, issuer, 90, expires_at=timezone.now() - timedelta(hours=1))
        earn(member, issuer, 10, expires_at=None)
    expiry_account()

    result = expire_points_task.delay(batch_size=2).get(timeout=30)

    assert result["transactions"] == 3 and result["points"] == 270
    assert all(standard(m).balance == 10 for m in members)
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.EXPIRE).count() == 3
    assert not PointLot.objects.filter(remaining__gt=0, expires_at__isnull=False).exists()
    ledger_ok()
