"""Exchange days announced in advance: members are told EXCHANGE_DAY_NOTICE_DAYS days before
a merchant's exchange day (积分兑换日, 会员日…) which rewards will cost fewer points.

Run daily by the `announce-exchange-days` beat entry; idempotent (one message per member,
merchant and day: the dedupe key), so a rerun or two overlapping runs tell nobody twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from points.models import Member, Notification
from points.services.notifications import (
    Joined,
    Message,
    Outgoing,
    notifications_send_many,
)
from redemption.models import PriceSchedule
from redemption.pricing import is_exchange_day
from redemption.selectors import pricing_day, reward_prices, rewards_available

MEMBER_CHUNK = 1000
MAX_REWARDS_LISTED = 10

TITLE = gettext_lazy("%(merchant)s %(name)s on %(date)s: up to %(percent)s%% fewer points")
BODY = gettext_lazy(
    "In %(days)s days, on %(date)s, these rewards will cost fewer points: %(rewards)s"
)
REWARD_LINE = gettext_lazy("%(reward)s %(points)s points (now %(today)s)")


@dataclass
class ExchangeDayRun:
    """What one announcement run did."""

    day: date | None = None
    merchants: int = 0
    notifications: int = 0
    rewards: dict[int, list[int]] = field(default_factory=dict)  # merchant id → reward ids


def exchange_days_announce(*, now: datetime | None = None) -> ExchangeDayRun:
    """Tell every member what will be cheaper at each merchant whose exchange day is in
    `EXCHANGE_DAY_NOTICE_DAYS` days. A merchant with nothing cheaper that day is skipped."""
    now = now or timezone.now()
    days = settings.EXCHANGE_DAY_NOTICE_DAYS
    today = pricing_day(now)
    target = today + timedelta(days=days)
    run = ExchangeDayRun(day=target)
    schedules = [
        schedule
        for schedule in PriceSchedule.objects.filter(
            active=True, kind=PriceSchedule.Kind.EXCHANGE_DAY, merchant__active=True
        ).select_related("merchant")
        if schedule.day_of_month
        and is_exchange_day(schedule.day_of_month, target)
        and (schedule.starts_on is None or schedule.starts_on <= target)
        and (schedule.ends_on is None or target <= schedule.ends_on)
    ]
    by_merchant: dict[int, list[PriceSchedule]] = {}
    for schedule in schedules:
        by_merchant.setdefault(schedule.merchant_id, []).append(schedule)
    target_start = timezone.make_aware(datetime.combine(target, time.min))
    for merchant_id, merchant_schedules in sorted(by_merchant.items()):
        merchant = merchant_schedules[0].merchant
        rewards = list(rewards_available(now=target_start).filter(merchant_id=merchant_id))
        then = reward_prices(rewards, on=target)
        now_prices = reward_prices(rewards, on=today)
        ids = {s.pk for s in merchant_schedules}
        cheaper = [
            r
            for r in rewards
            if then[r.pk].schedule_id in ids and then[r.pk].points < now_prices[r.pk].points
        ]
        if not cheaper:
            continue
        best = max(merchant_schedules, key=lambda s: (s.percent_off, -s.pk))
        listed = cheaper[:MAX_REWARDS_LISTED]
        params = {
            "merchant": merchant.name,
            "name": _Name(best),
            "date": target.isoformat(),
            "days": days,
            "percent": best.percent_off,
        }
        rewards_text = Joined(
            *(
                Message(
                    REWARD_LINE,
                    reward=r.title,
                    points=then[r.pk].points,
                    today=now_prices[r.pk].points,
                )
                for r in listed
            )
        )
        run.merchants += 1
        run.rewards[merchant_id] = [r.pk for r in cheaper]
        members = Member.objects.select_related("user").filter(user__is_active=True).order_by("pk")
        last = 0
        while True:
            chunk = list(members.filter(pk__gt=last)[:MEMBER_CHUNK])
            if not chunk:
                break
            last = chunk[-1].pk
            title = Message(TITLE, **params)
            body = Message(BODY, **params, rewards=rewards_text)
            link = reverse("reward_list")
            prefix = f"exchange_day:{merchant_id}:{target.isoformat()}"
            run.notifications += notifications_send_many(
                kind=Notification.Kind.EXCHANGE_DAY,
                outgoing=[
                    Outgoing(
                        member=member,
                        title=title,
                        body=body,
                        link=link,
                        dedupe_key=f"{prefix}:{member.pk}",
                    )
                    for member in chunk
                ],
                now=now,
            )
    return run


class _Name:
    """The schedule's display name, rendered in whichever language is active."""

    def __init__(self, schedule: PriceSchedule):
        self.schedule = schedule

    def __str__(self) -> str:
        return self.schedule.display_name
