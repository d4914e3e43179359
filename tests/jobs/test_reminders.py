"""Expiry reminders across time: once per lot and threshold, none for points that never expire."""

from datetime import datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from points.models import ExpiryReminder, Notification
from points.services.reminders import expiry_reminders_send
from tests.points.helpers import earn, spend

pytestmark = pytest.mark.django_db

START = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.get_fixed_timezone(8 * 60))


def reminders_of(member):
    return Notification.objects.filter(member=member, kind=Notification.Kind.EXPIRY_REMINDER)


def run_daily(days: int, *, start=START):
    """Run the reminder job once a day (twice, to show repetition does nothing) for `days`."""
    for day in range(days + 1):
        with time_machine.travel(start + timedelta(days=day), tick=False):
            expiry_reminders_send()
            expiry_reminders_send()


def test_a_lot_expiring_in_7_days_gets_one_reminder_per_threshold_across_repeated_runs(
    make_member, issuer
):
    member = make_member()
    with time_machine.travel(START, tick=False):
        lot_txn = earn(member, issuer, 120, expires_at=START + timedelta(days=7))

    run_daily(10)

    per_threshold = sorted(
        ExpiryReminder.objects.filter(lot__transaction=lot_txn).values_list(
            "days_before", flat=True
        )
    )
    assert per_threshold == [7, 30]
    assert reminders_of(member).count() == 2


def test_a_lot_seen_from_afar_is_announced_30_then_7_days_before(make_member, issuer):
    member = make_member()
    expires = START + timedelta(days=45)
    with time_machine.travel(START, tick=False):
        earn(member, issuer, 80, expires_at=expires)

    run_daily(45)

    sent = {
        r.days_before: timezone.localdate(r.created_at)
        for r in ExpiryReminder.objects.filter(lot__account__member=member)
    }
    assert sent == {
        30: timezone.localdate(expires - timedelta(days=30)),
        7: timezone.localdate(expires - timedelta(days=7)),
    }
    assert reminders_of(member).count() == 2


def test_points_that_never_expire_trigger_no_reminder(make_member, issuer):
    member = make_member()
    with time_machine.travel(START, tick=False):
        earn(member, issuer, 500, expires_at=None)

    run_daily(40)

    assert not reminders_of(member).exists()
    assert not ExpiryReminder.objects.exists()


def test_one_notification_per_member_and_threshold_lists_what_expires_when(
    make_member, issuer, merchant, settings
):
    settings.POINTS_EXPIRY_REMINDER_DAYS = [30]
    member = make_member(email="m@example.com")
    with time_machine.travel(START, tick=False):
        earn(member, issuer, 100, expires_at=START + timedelta(days=5))
        earn(member, issuer, 20, expires_at=START + timedelta(days=5, hours=1))
        earn(member, issuer, 60, expires_at=START + timedelta(days=12))
        earn(member, issuer, 999, expires_at=START + timedelta(days=31))  # not yet
        run = expiry_reminders_send()

    assert (run.notifications, run.lots) == (1, 3)
    notice = reminders_of(member).get()
    assert notice.title == "您有 180 积分将在 30 天内过期"
    assert "2025年3月6日到期：120 积分" in notice.body
    assert "2025年3月13日到期：60 积分" in notice.body
    assert "999" not in notice.body


def test_a_new_lot_in_the_window_is_announced_without_repeating_the_old_ones(
    make_member, issuer, settings
):
    settings.POINTS_EXPIRY_REMINDER_DAYS = [30]
    member = make_member()
    with time_machine.travel(START, tick=False):
        earn(member, issuer, 100, expires_at=START + timedelta(days=20))
        expiry_reminders_send()
    with time_machine.travel(START + timedelta(days=1), tick=False):
        earn(member, issuer, 30, expires_at=START + timedelta(days=25))
        expiry_reminders_send()

    first, second = reminders_of(member).order_by("id")
    assert "100 积分" in first.body
    assert "30 积分" in second.body and "100 积分" not in second.body


def test_spent_or_expired_lots_are_not_announced(make_member, issuer, merchant):
    member = make_member()
    with time_machine.travel(START, tick=False):
        earn(member, issuer, 50, expires_at=START + timedelta(days=3))
        spend(member, merchant, 50)
        earn(member, issuer, 10, expires_at=START - timedelta(days=1))  # already past due
        run = expiry_reminders_send()

    assert run.notifications == 0


def test_reminder_email_is_chinese_and_templated(
    make_member, issuer, django_capture_on_commit_callbacks
):
    member = make_member(email="m@example.com")
    with time_machine.travel(START, tick=False):
        earn(member, issuer, 70, expires_at=START + timedelta(days=6))
        with django_capture_on_commit_callbacks(execute=True):
            expiry_reminders_send(thresholds=[7])

    (message,) = mail.outbox
    assert message.subject == "[积分] 您有 70 积分将在 7 天内过期"
    assert "2025年3月7日到期：70 积分" in message.body
    assert "过期积分将无法恢复" in message.body  # the expiry_reminder.txt template
    assert "http://127.0.0.1:8000/" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and 'lang="zh-CN"' in html


def test_the_command_reports_what_it_sent(make_member, issuer, capsys):
    member = make_member()
    earn(member, issuer, 10, expires_at=timezone.now() + timedelta(days=2))

    call_command("send_expiry_reminders")

    assert "Sent 2 expiry reminders covering 2 lots (thresholds: 7, 30 days)." in (
        capsys.readouterr().out
    )
    assert reminders_of(member).count() == 2
