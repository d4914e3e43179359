"""Reads of the catalog: what is on offer, at what price today, and when a member can afford it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from django.db import connection
from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from points.models import Account, Member, PointLot, Purchase, PurchaseLine
from points.selectors import spendable_lots
from points.services.ledger import add_months
from redemption.models import (
    FULFILMENT_STAGES,
    PriceSchedule,
    Redemption,
    Reward,
    RewardPriceChange,
    Voucher,
    WinBackOffer,
)
from redemption.pricing import Price, ScheduleRule, reward_price_on

SAVINGS_WINDOW_MONTHS = 6
# Base earn rate (DESIGN: 1 point per whole yuan); campaigns only make a projection shorter.
POINTS_PER_YUAN_FOR_PROJECTION = 1


def pricing_day(now: datetime | None = None) -> date:
    """Prices change at midnight in the site's time zone (Asia/Shanghai)."""
    return timezone.localdate(now or timezone.now())


def rewards_on_offer() -> QuerySet[Reward]:
    """Active rewards of active merchants, whatever their dates, in catalog order."""
    return (
        Reward.objects.filter(active=True, merchant__active=True)
        .select_related("merchant", "category")
        .order_by("merchant__name", "points_price", "id")
    )


def rewards_available(*, now: datetime | None = None) -> QuerySet[Reward]:
    """Rewards a member can see and redeem now (sold-out ones included, marked as such)."""
    now = now or timezone.now()
    return (
        rewards_on_offer()
        .filter(Q(active_from__isnull=True) | Q(active_from__lte=now))
        .filter(Q(active_until__isnull=True) | Q(active_until__gt=now))
    )


def schedule_rules(merchant_ids: Iterable[int], *, on: date) -> list[ScheduleRule]:
    """Active schedules of these merchants that could apply on `on` (three queries)."""
    schedules = (
        PriceSchedule.objects.filter(merchant_id__in=set(merchant_ids), active=True)
        .filter(Q(starts_on__isnull=True) | Q(starts_on__lte=on))
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=on))
        .prefetch_related(
            Prefetch("rewards", queryset=Reward.objects.only("id")),
            Prefetch("categories"),
        )
    )
    return [schedule.as_rule() for schedule in schedules]


def reward_prices(rewards: Sequence[Reward], *, on: date | None = None) -> dict[int, Price]:
    """Today's price of each reward, the best applicable schedule winning."""
    on = on or pricing_day()
    rules = schedule_rules({r.merchant_id for r in rewards}, on=on) if rewards else []
    return prices_with_rules(rewards, rules=rules, on=on)


def prices_with_rules(
    rewards: Sequence[Reward], *, rules: Sequence[ScheduleRule], on: date
) -> dict[int, Price]:
    """Each reward's price on `on` under `rules` (schedule_rules of at least their merchants)."""
    return {
        reward.pk: reward_price_on(
            base_points=reward.points_price,
            reward_id=reward.pk,
            category_id=reward.category_id,
            merchant_id=reward.merchant_id,
            schedules=rules,
            on=on,
        )
        for reward in rewards
    }


def reward_price(reward: Reward, *, on: date | None = None) -> Price:
    return reward_prices([reward], on=on)[reward.pk]


def reward_price_history(reward: Reward) -> QuerySet[RewardPriceChange]:
    return reward.price_changes.order_by("-changed_at", "-id")


def member_redemptions(member: Member) -> QuerySet[Redemption]:
    return (
        Redemption.objects.filter(member=member)
        .select_related("merchant", "reward__pickup_store")
        .prefetch_related(Prefetch("vouchers", queryset=Voucher.objects.order_by("id")))
        .order_by("-created_at", "-id")
    )


def member_open_winback_offers(
    member: Member, *, now: datetime | None = None
) -> QuerySet[WinBackOffer]:
    """The member's win-back offers they can still use now, soonest ending first."""
    now = now or timezone.now()
    return (
        WinBackOffer.objects.filter(
            member=member, redemption__isnull=True, valid_from__lte=now, valid_until__gt=now
        )
        .select_related("reward__merchant")
        .order_by("valid_until", "id")
    )


def member_units_held(member: Member, reward: Reward) -> int:
    """Units of `reward` the member holds (confirmed or fulfilled; cancelled ones are free)."""
    total = (
        Redemption.objects.filter(member=member, reward=reward)
        .exclude(status=Redemption.Status.CANCELLED)
        .aggregate(total=Sum("quantity"))["total"]
    )
    return total or 0


def member_spendable_points(member: Member, *, now: datetime | None = None) -> int:
    """spendable_balance() of the member's standard account; 0 without one or in debt.

    One query: the account is joined, not read first.
    """
    total = (
        spendable_lots(now=now)
        .filter(
            account__member=member,
            account__kind=Account.Kind.STANDARD,
            account__balance__gte=0,
        )
        .aggregate(total=Sum("remaining"))["total"]
    )
    return total or 0


def member_projection_balance(member: Member, *, now: datetime | None = None) -> int:
    """Where the savings projection starts: the spendable points, or the (negative) balance
    of a member in debt, which later earnings repay before anything can be saved."""
    account = Account.objects.filter(member=member, kind=Account.Kind.STANDARD).first()
    if account is not None and account.balance < 0:
        return account.balance
    return member_spendable_points(member, now=now)


def average_monthly_spend_fen(member: Member, *, now: datetime | None = None) -> int:
    """The member's net spend over the last six months (purchases less the refunded part of
    their lines), divided by six (integer fen)."""
    now = now or timezone.now()
    since = add_months(now, -SAVINGS_WINDOW_MONTHS)
    window = {"occurred_at__gt": since, "occurred_at__lte": now}
    total = Purchase.objects.filter(member=member, **window).aggregate(total=Sum("total_fen"))[
        "total"
    ]
    refunded = PurchaseLine.objects.filter(
        purchase__member=member, **{f"purchase__{key}": value for key, value in window.items()}
    ).aggregate(total=Sum(F("amount_fen") * F("refunded_quantity") / F("quantity")))["total"]
    return max((total or 0) - (refunded or 0), 0) // SAVINGS_WINDOW_MONTHS


@cache
def _savings_inputs_sql() -> str:
    lot, account = PointLot._meta.db_table, Account._meta.db_table
    purchase, line = Purchase._meta.db_table, PurchaseLine._meta.db_table
    # Open lots always hold max(balance, 0) (the ledger writes both in one transaction;
    # verify_ledger checks it), so the unexpired ones are the balance minus the expired ones
    # not yet swept: a short range of the partial (account, expires_at) index, not every lot.
    return f"""
        SELECT
          COALESCE((
            SELECT CASE WHEN a.balance <= 0 THEN a.balance ELSE a.balance - COALESCE((
                     SELECT SUM(l.remaining) FROM {lot} l
                      WHERE l.account_id = a.id AND l.remaining > 0 AND l.expires_at <= %s
                   ), 0) END
              FROM {account} a WHERE a.member_id = %s AND a.kind = %s
          ), 0),
          (SELECT COALESCE(SUM(p.total_fen), 0) - COALESCE(SUM((
                    SELECT SUM(l.amount_fen * l.refunded_quantity / l.quantity)
                      FROM {line} l WHERE l.purchase_id = p.id)), 0)
             FROM {purchase} p
            WHERE p.member_id = %s AND p.occurred_at > %s AND p.occurred_at <= %s)
    """


def member_savings_inputs(member: Member, *, now: datetime | None = None) -> tuple[int, int]:
    """(member_projection_balance, average_monthly_spend_fen) of the member, in one round trip.

    The same two figures as those selectors (a test holds them equal), as one SQL statement
    built once per process: the dashboard asks on every visit, and compiling two ORM
    aggregates cost more than PostgreSQL answering them. One statement is one snapshot.
    """
    now = now or timezone.now()
    since = add_months(now, -SAVINGS_WINDOW_MONTHS)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            _savings_inputs_sql(),
            [adapt(now), member.pk, Account.Kind.STANDARD.value]
            + [member.pk, adapt(since), adapt(now)],
        )
        spendable, spend_fen = cursor.fetchone()
    return int(spendable), max(int(spend_fen), 0) // SAVINGS_WINDOW_MONTHS


def member_redeem_blockers(
    member: Member, rewards: Sequence[Reward], *, spendable: int | None = None
) -> dict[int, str]:
    """Why the member cannot redeem each reward now, whatever their points (sold out, their
    limit reached, a negative balance); rewards they can redeem are absent. One query."""
    from django.utils.translation import gettext

    held = dict(
        Redemption.objects.filter(member=member, reward__in=[r.pk for r in rewards])
        .exclude(status=Redemption.Status.CANCELLED)
        .values_list("reward")
        .annotate(total=Sum("quantity"))
        .values_list("reward", "total")
    )
    in_debt = spendable is not None and spendable < 0
    blockers = {}
    for reward in rewards:
        if reward.stock is not None and reward.stock <= 0:
            blockers[reward.pk] = gettext("Out of stock")
        elif reward.per_member_limit is not None and held.get(reward.pk, 0) >= (
            reward.per_member_limit
        ):
            blockers[reward.pk] = gettext("You have reached the limit for this reward.")
        elif in_debt:
            blockers[reward.pk] = gettext("Redeeming is paused until your balance is repaid.")
    return blockers


@dataclass(frozen=True)
class SavingsProjection:
    """How far a member is from a reward: 0 months = affordable now; None = no recent spend."""

    reward: Reward
    price_points: int
    shortfall: int
    monthly_spend_fen: int
    monthly_points: int
    months: int | None
    balance: int = 0  # where the projection starts (negative when the member owes points)


def savings_projection(
    *,
    member: Member,
    rewards: Sequence[Reward],
    prices: dict[int, Price] | None = None,
    now: datetime | None = None,
) -> dict[int, SavingsProjection]:
    """Months until each reward is affordable at the member's average net spend of recent
    months, from the spendable balance (a debt counts against it), at the regular price.

    "每月消费 ¥50，约 10 个月可兑换笔记本套装": ¥50 a month earns about 50 points at the base
    rate, so a 500-point reward with nothing saved is about 10 months away.
    """
    now = now or timezone.now()
    prices = prices if prices is not None else reward_prices(rewards, on=pricing_day(now))
    spendable, monthly_fen = member_savings_inputs(member, now=now)
    monthly_points = monthly_fen // 100 * POINTS_PER_YUAN_FOR_PROJECTION
    projections = {}
    for reward in rewards:
        # Affordable now at today's price; otherwise the wait is to the regular price: a
        # one-day exchange-day price does not last the months it takes to save.
        price = prices[reward.pk].base_points
        affordable_today = spendable >= prices[reward.pk].points
        shortfall = 0 if affordable_today else max(price - spendable, 0)
        if shortfall == 0:
            months: int | None = 0
        elif monthly_points > 0:
            months = -(-shortfall // monthly_points)  # ceiling division
        else:
            months = None
        projections[reward.pk] = SavingsProjection(
            reward=reward,
            price_points=price,
            shortfall=shortfall,
            monthly_spend_fen=monthly_fen,
            monthly_points=monthly_points,
            months=months,
            balance=spendable,
        )
    return projections


def fulfilment_counts(redemptions: QuerySet[Redemption], *, since: datetime) -> dict[str, int]:
    """New (since `since`, not cancelled), waiting and ready redemptions, in one query."""
    return redemptions.aggregate(
        new=Count("pk", filter=Q(created_at__gte=since) & ~Q(status=Redemption.Status.CANCELLED)),
        waiting=Count("pk", filter=FULFILMENT_STAGES["waiting"]),
        ready=Count("pk", filter=FULFILMENT_STAGES["ready"]),
    )


@dataclass
class MerchantDirectoryEntry:
    merchant: object
    stores: list
    categories: list
    rewards: list  # (reward, today's Price)


def merchant_directory(*, now: datetime | None = None) -> list[MerchantDirectoryEntry]:
    """Where points can be used: active merchants, their active stores and categories, and
    the rewards on offer now with today's price (a fixed number of queries)."""
    from merchants.models import Category, Merchant, Store

    now = now or timezone.now()
    merchants = list(
        Merchant.objects.filter(active=True)
        .prefetch_related(
            Prefetch("stores", queryset=Store.objects.filter(active=True).order_by("name", "id")),
            Prefetch("categories", queryset=Category.objects.order_by("name", "id")),
        )
        .order_by("name", "id")
    )
    rewards = list(rewards_available(now=now))
    prices = reward_prices(rewards, on=pricing_day(now))
    by_merchant: dict[int, list] = {}
    for reward in rewards:
        by_merchant.setdefault(reward.merchant_id, []).append((reward, prices[reward.pk]))
    return [
        MerchantDirectoryEntry(
            merchant=merchant,
            stores=list(merchant.stores.all()),
            categories=list(merchant.categories.all()),
            rewards=by_merchant.get(merchant.pk, []),
        )
        for merchant in merchants
        if merchant.stores.all() or merchant.pk in by_merchant
    ]
