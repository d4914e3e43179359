"""Notifications from the jobs' side: an earn tells the member, stuck emails are retried."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from points.models import Notification
from points.services.notifications import (
    EMAIL_MAX_ATTEMPTS,
    notification_emails_retry,
    notification_send,
)
from points.services.purchases import LineRequest, purchase_record
from tests.points.conftest import make_shop

pytestmark = pytest.mark.django_db


def buy(member, terminal, receipt="R-1", amount_fen=12800):
    return purchase_record(
        merchant=terminal.store.merchant,
        member=member,
        receipt_no=receipt,
        occurred_at=timezone.now(),
        lines=[LineRequest(line_no=1, quantity=1, amount_fen=amount_fen, category="pens")],
        terminal=terminal,
    )


def test_a_purchase_puts_points_arrived_in_the_inbox_and_emails_it_after_commit(
    make_member, django_capture_on_commit_callbacks
):
    terminal = make_shop("shop-n", "jf_test_key_notify_0001")
    member = make_member(email="m@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        buy(member, terminal)

    notice = Notification.objects.get(member=member, kind=Notification.Kind.POINTS)
    assert notice.title == "积分到账：128 积分"
    assert "Shop shop-n" in notice.body
    assert notice.email_status == Notification.EmailStatus.SENT
    assert [m.subject for m in mail.outbox] == ["[积分] 积分到账：128 积分"]


def test_a_replayed_receipt_does_not_notify_twice(make_member):
    terminal = make_shop("shop-n", "jf_test_key_notify_0001")
    member = make_member()

    buy(member, terminal)
    buy(member, terminal)

    assert Notification.objects.filter(member=member, kind="points").count() == 1


def test_pending_emails_are_sent_again_by_the_retry_job(
    make_member, settings, django_capture_on_commit_callbacks
):
    member = make_member(email="m@example.com")
    settings.EMAIL_BACKEND = "tests.points.test_notifications.BrokenBackend"
    with django_capture_on_commit_callbacks(execute=True):
        notice = notification_send(member=member, kind="points", title="积分到账")
    notice.refresh_from_db()
    assert notice.email_status == Notification.EmailStatus.PENDING  # eager send failed
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    with django_capture_on_commit_callbacks(execute=True):
        too_soon = notification_emails_retry()
    with (
        time_machine.travel(timezone.now() + timedelta(minutes=20)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        queued = notification_emails_retry()

    notice.refresh_from_db()
    assert (too_soon, queued) == (0, 1)
    assert notice.email_status == Notification.EmailStatus.SENT
    assert len(mail.outbox) == 1


def test_an_email_that_keeps_failing_is_given_up_but_the_inbox_row_stays(make_member):
    member = make_member(email="m@example.com")
    notice = notification_send(member=member, kind="points", title="x")
    Notification.objects.filter(pk=notice.pk).update(
        email_attempts=EMAIL_MAX_ATTEMPTS, created_at=timezone.now() - timedelta(hours=1)
    )

    assert notification_emails_retry() == 0

    notice.refresh_from_db()
    assert notice.email_status == Notification.EmailStatus.FAILED
    assert notice.read_at is None and notice.title == "x"
