"""Expiry reminders: tell members, ahead of time, which points expire when.

For every threshold in POINTS_EXPIRY_REMINDER_DAYS (default 30 and 7 days), a member whose
open lots expire within that many days gets one notification listing them by date. Each
(lot, threshold) is recorded in `ExpiryReminder` under a unique constraint, so the same lots
are never announced twice for the same threshold, however often (or concurrently) the job
runs. Lots that never expire (`expires_at` NULL, the default "积分永久有效") never appear.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from points.models import Account, ExpiryReminder, Member, Notification, PointLot
from points.services.notifications import notification_send


@dataclass
class ReminderRun:
    notifications: int = 0
    lots: int = 0


@dataclass(frozen=True)
class _DueLot:
    id: int
    member_id: int
    kind: str
    remaining: int
    expires_at: datetime


def expiry_reminders_send(
    *, now: datetime | None = None, thresholds: Sequence[int] | None = None
) -> ReminderRun:
    """Send the expiry reminders that are due now; returns how many were sent."""
    now = now or timezone.now()
    thresholds = sorted(set(thresholds or settings.POINTS_EXPIRY_REMINDER_DAYS), reverse=True)
    run = ReminderRun()
    for days in thresholds:
        for member_id, lots in groupby(_unannounced_lots(now, days), key=lambda lot: lot.member_id):
            member_lots = list(lots)
            if _remind(member_id, member_lots, days):
                run.notifications += 1
                run.lots += len(member_lots)
    return run


def _unannounced_lots(now: datetime, days: int) -> Iterable[_DueLot]:
    rows = (
        PointLot.objects.filter(
            remaining__gt=0,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=days),
            account__member__isnull=False,
        )
        .exclude(expiry_reminders__days_before=days)
        .order_by("account__member_id", "expires_at", "id")
        .values_list("id", "account__member_id", "account__kind", "remaining", "expires_at")
    )
    for lot_id, member_id, kind, remaining, expires_at in rows.iterator(chunk_size=2000):
        assert expires_at is not None  # filtered on it above
        yield _DueLot(lot_id, member_id, kind, remaining, expires_at)


def _remind(member_id: int, lots: list[_DueLot], days: int) -> bool:
    """One notification for the member's lots; False if another run announced them first."""
    digest = hashlib.sha256(",".join(str(lot.id) for lot in lots).encode()).hexdigest()[:32]
    try:
        with transaction.atomic():
            # Claim the lots first: the unique (lot, days_before) decides between two runs.
            reminders = ExpiryReminder.objects.bulk_create(
                [ExpiryReminder(lot_id=lot.id, days_before=days) for lot in lots]
            )
            member = Member.objects.select_related("user").get(pk=member_id)
            title, body = expiry_reminder_text(lots, days)
            notification = notification_send(
                member=member,
                kind=Notification.Kind.EXPIRY_REMINDER,
                title=title,
                body=body,
                link=reverse("dashboard"),
                dedupe_key=f"expiry:{days}:{member_id}:{digest}",
            )
            if notification is None:
                raise IntegrityError("announced by another run")
            ExpiryReminder.objects.filter(pk__in=[r.pk for r in reminders]).update(
                notification=notification
            )
    except IntegrityError:
        return False
    return True


def expiry_reminder_text(lots: Sequence[_DueLot], days: int) -> tuple[str, str]:
    """The Chinese title and body: the total, then what expires on which day."""
    total = sum(lot.remaining for lot in lots)
    title = f"您有 {total} 积分将在 {days} 天内过期"
    lines = []
    for day, same_day in groupby(lots, key=lambda lot: timezone.localdate(lot.expires_at)):
        by_kind = sorted(same_day, key=lambda lot: lot.kind)
        for kind, of_kind in groupby(by_kind, key=lambda lot: lot.kind):
            label = "绿色积分" if kind == Account.Kind.GREEN else "积分"
            points = sum(lot.remaining for lot in of_kind)
            lines.append(f"· {day.year}年{day.month}月{day.day}日到期：{points} {label}")
    intro = f"以下积分将在 {days} 天内到期，到期后将自动失效："
    body = "\n".join([intro, *lines, "请在到期前使用积分兑换好礼。"])
    return title, body
