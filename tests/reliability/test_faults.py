"""Faults (issue 11, part 3): a database connection killed mid-purchase, the expiry worker
killed mid-run, Redis down while members buy and redeem."""

import json
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from config.celery_app import app
from points.models import LedgerTransaction, Notification, PointLot, Purchase
from points.services import ledger as ledger_module
from points.services.accounts import expiry_account, issuance_account
from points.services.notifications import notification_emails_retry, queue_notification_email
from points.tasks import expire_points_task, retry_pending_emails_task
from redemption.models import Redemption
from redemption.services.redemptions import reward_redeem
from redemption.services.rewards import reward_create
from tests.conftest import assert_ledger_invariants
from tests.points.conftest import make_shop
from tests.points.helpers import earn, standard

CLOSED_PORT_URL = "redis://127.0.0.1:1/0"  # nothing listens there: Redis is "down"


def purchase_body(member, receipt):
    return json.dumps(
        {
            "member_no": member.member_no,
            "receipt_no": receipt,
            "occurred_at": (timezone.localtime() - timedelta(minutes=1)).isoformat(),
            "lines": [{"line_no": 1, "category": "pens", "quantity": 1, "amount_fen": 5000}],
        }
    )


def till(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_connection_killed_mid_purchase_then_retried_with_the_same_key_earns_once(
    transactional_db, make_member, monkeypatch
):
    make_shop("fault-a", "jf_fault_key_a_0001")
    member = make_member()
    inside, resume = threading.Event(), threading.Event()
    backend = {}
    real_notify = __import__("points.services.purchases", fromlist=["x"])._notify_points_earned

    def pause_inside_the_transaction(*args, **kwargs):
        # Called after the ledger rows are written, before COMMIT: the worst moment to die.
        if not inside.is_set():
            backend["pid"] = connection.connection.info.backend_pid
            inside.set()
            resume.wait(20)
        return real_notify(*args, **kwargs)

    monkeypatch.setattr(
        "points.services.purchases._notify_points_earned", pause_inside_the_transaction
    )
    body = purchase_body(member, "KILL-1")
    first = {}

    def first_attempt():
        try:
            response = till("jf_fault_key_a_0001").post(
                "/api/v1/purchases",
                data=body,
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY="kill-1",
            )
            first["status"], first["body"] = response.status_code, response.json()
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_attempt)
    thread.start()
    assert inside.wait(20)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend["pid"]])
        assert cursor.fetchone()[0] is True
    resume.set()
    thread.join(30)

    assert first["status"] == 503, first  # an error in our JSON shape, never a traceback
    assert first["body"]["error"]["code"] == "database_unavailable"
    assert not LedgerTransaction.objects.filter(reference="KILL-1").exists()  # rolled back

    retry = till("jf_fault_key_a_0001").post(
        "/api/v1/purchases",
        data=body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="kill-1",
    )
    again = till("jf_fault_key_a_0001").post(
        "/api/v1/purchases",
        data=body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="kill-1",
    )
    assert retry.status_code == 201 and again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert LedgerTransaction.objects.filter(kind="earn", reference="KILL-1").count() == 1
    assert Purchase.objects.filter(receipt_no="KILL-1").count() == 1
    assert standard(member).balance == 50 + 100  # the earn and the first-purchase bonus
    assert_ledger_invariants()


def test_an_expiry_run_killed_after_its_first_batch_is_finished_exactly_once_by_the_rerun(
    transactional_db, make_member, monkeypatch
):
    """The worker dies after one batch committed (simulated: the second batch raises, as a
    SIGKILL would abort it); with acks_late the task is delivered again and the rerun expires
    the rest, each lot exactly once."""
    issuer = issuance_account(make_shop("fault-b", "jf_fault_key_b_0001").store.merchant)
    members = [make_member() for _ in range(6)]
    for member in members:
        earn(member, issuer, 70, expires_at=timezone.now() - timedelta(hours=2))
        earn(member, issuer, 30, expires_at=None)
    expiry_account()
    real_batch = ledger_module.ledger_expire_due_batch
    batches = []

    def dies_on_the_second_batch(**kwargs):
        batches.append(kwargs["after_account_id"])
        if len(batches) == 2:
            raise SystemExit("worker killed")
        return real_batch(**kwargs)

    monkeypatch.setattr("points.services.expiry.ledger_expire_due_batch", dies_on_the_second_batch)
    with pytest.raises(SystemExit):
        expire_points_task.apply(kwargs={"batch_size": 2}).get()
    assert LedgerTransaction.objects.filter(kind="expire").count() == 2  # batch 1 committed

    monkeypatch.setattr("points.services.expiry.ledger_expire_due_batch", real_batch)
    rerun = expire_points_task.apply(kwargs={"batch_size": 2}).get()
    third = expire_points_task.apply(kwargs={"batch_size": 2}).get()

    assert rerun["transactions"] == 4 and rerun["points"] == 280
    assert third["transactions"] == 0
    assert LedgerTransaction.objects.filter(kind="expire").count() == 6
    assert all(standard(m).balance == 30 for m in members)
    assert not PointLot.objects.filter(remaining__gt=0, expires_at__lte=timezone.now()).exists()
    assert_ledger_invariants()


@pytest.fixture
def redis_down():
    """The broker and the cache pointed at a closed port (emails ignore results, so the
    result backend is not on the path)."""
    saved = app.conf.get("broker_write_url"), app.conf.task_always_eager
    app.conf.task_always_eager = False
    # The write URL: the CELERY_BROKER_URL environment variable would win over broker_url.
    app.conf.broker_write_url = CLOSED_PORT_URL
    app.conf.broker_connection_timeout = 1
    app._pool = None
    app.amqp._producer_pool = None
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CLOSED_PORT_URL,
        }
    }
    override = override_settings(CACHES=caches)
    override.enable()
    restored = []

    def restore():
        if restored:
            return
        restored.append(True)
        override.disable()
        app.conf.broker_write_url, app.conf.task_always_eager = saved
        app._pool = None
        app.amqp._producer_pool = None

    yield restore
    restore()


def test_with_redis_down_purchases_and_redemptions_succeed_and_emails_follow_later(
    transactional_db, make_member, redis_down
):
    terminal = make_shop("fault-c", "jf_fault_key_c_0001")
    member = make_member(email="outage@example.com")
    earn(member, issuance_account(terminal.store.merchant), 500)
    reward = reward_create(
        merchant=terminal.store.merchant, title="Cup", points_price=100, face_value_fen=800
    )

    response = till("jf_fault_key_c_0001").post(
        "/api/v1/purchases",
        data=purchase_body(member, "OUT-1"),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="out-1",
    )
    redemption = reward_redeem(member=member, reward=reward, quantity=1, idempotency_key="o-1")

    assert response.status_code == 201, response.content
    assert Redemption.objects.filter(pk=redemption.pk).exists()
    notice = Notification.objects.get(member=member, kind=Notification.Kind.POINTS)
    assert notice.email_status == Notification.EmailStatus.PENDING  # in the outbox
    assert mail.outbox == []
    assert app.connection_for_write().port == 1
    assert queue_notification_email(notice.pk) is False  # the broker really is unreachable

    redis_down()  # Redis is back; the periodic retry task delivers the outbox
    queued = retry_pending_emails_task.apply().get()
    assert queued == 0  # not stale yet: the retry waits 15 minutes before re-queueing
    assert notification_emails_retry(now=timezone.now() + timedelta(minutes=16)) == 1
    connection.run_and_clear_commit_hooks() if hasattr(
        connection, "run_and_clear_commit_hooks"
    ) else None  # noqa: E501
    notice.refresh_from_db()
    assert notice.email_status == Notification.EmailStatus.SENT
    assert [m.to for m in mail.outbox] == [["outage@example.com"]]
    assert_ledger_invariants()
