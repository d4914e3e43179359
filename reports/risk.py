"""风控: per merchant and day, the signs of points farmed rather than earned.

For each merchant and day (by recording time, Asia/Shanghai): new members (their first
purchase ever was there), first-purchase bonuses paid for purchases there, purchases under
the bonus minimum, the most purchases under ¥1 one terminal posted, and points redeemed
there by members younger than 7 days. Adjustments are per requester and day. A value past
its threshold (settings.RISK_THRESHOLDS) flags the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import Abs, TruncDate
from django.utils import timezone

from activities.models import CheckInRefusal
from merchants.models import Merchant
from points.models import AdjustmentRequest, LedgerEntry, LedgerTransaction, Purchase

YOUNG_MEMBER_DAYS = 7
TINY_PURCHASE_FEN = 100  # under ¥1
MOST_DAYS = 92
ACTIVITY_REFUSALS_DEFAULT = 10  # when RISK_THRESHOLDS names no limit for it

MERCHANT_MEASURES = (
    "new_members",
    "first_bonuses",
    "under_minimum",
    "tiny_by_one_terminal",
    "young_redeemed_points",
)


@dataclass
class RiskRow:
    day: date
    merchant: Merchant
    new_members: int = 0
    first_bonuses: int = 0
    under_minimum: int = 0
    tiny_by_one_terminal: int = 0
    young_redeemed_points: int = 0
    flags: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


@dataclass
class AdjustmentRiskRow:
    day: date
    requester: str
    count: int
    points: int
    flags: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


def thresholds() -> dict[str, int]:
    return dict(settings.RISK_THRESHOLDS)


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(first, time.min, tzinfo=tz),
        datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz),
    )


def _flag(row, limits: dict[str, int], measures) -> None:
    row.flags = [name for name in measures if getattr(row, name) > limits[name]]


def risk_rows(*, first: date, last: date) -> list[RiskRow]:
    """One row per merchant and day with any activity in [first, last], newest day first."""
    start, end = _bounds(first, last)
    minimum = settings.POINTS_FIRST_PURCHASE_MIN_FEN
    rows: dict[tuple[date, int], RiskRow] = {}
    merchants = {m.pk: m for m in Merchant.objects.all()}

    def row(day: date, merchant_id: int) -> RiskRow:
        key = (day, merchant_id)
        if key not in rows:
            rows[key] = RiskRow(day=day, merchant=merchants[merchant_id])
        return rows[key]

    in_window = Purchase.objects.filter(created_at__gte=start, created_at__lt=end)
    for item in (
        in_window.annotate(day=TruncDate("created_at"))
        .values("day", "merchant_id")
        .annotate(under=Count("id", filter=Q(total_fen__lt=minimum)))
        .order_by()
    ):
        row(item["day"], item["merchant_id"]).under_minimum = item["under"]
    # The most purchases under ¥1 any one terminal of the merchant posted that day.
    for item in (
        in_window.filter(total_fen__lt=TINY_PURCHASE_FEN, terminal__isnull=False)
        .annotate(day=TruncDate("created_at"))
        .values("day", "merchant_id", "terminal_id")
        .annotate(tiny=Count("id"))
        .order_by()
    ):
        target = row(item["day"], item["merchant_id"])
        target.tiny_by_one_terminal = max(target.tiny_by_one_terminal, item["tiny"])
    # New members: whose first purchase ever was at this merchant, that day.
    firsts = (
        Purchase.objects.values("member_id")
        .annotate(first_id=Min("id"))
        .values("first_id")
        .order_by()
    )
    for item in (
        in_window.filter(id__in=firsts)
        .annotate(day=TruncDate("created_at"))
        .values("day", "merchant_id")
        .annotate(new=Count("member_id", distinct=True))
        .order_by()
    ):
        row(item["day"], item["merchant_id"]).new_members = item["new"]
    # First-purchase bonuses (not reversed), by the merchant of the purchase they were for.
    bonuses = LedgerTransaction.objects.filter(
        kind=LedgerTransaction.Kind.BONUS,
        created_at__gte=start,
        created_at__lt=end,
        breakdown__bonus="first_purchase",
        reverses__isnull=True,
    ).values_list("created_at", "breakdown__purchase")
    bonus_days = {purchase_id: created for created, purchase_id in bonuses if purchase_id}
    for purchase_id, merchant_id in Purchase.objects.filter(pk__in=bonus_days).values_list(
        "pk", "merchant_id"
    ):
        row(timezone.localdate(bonus_days[purchase_id]), merchant_id).first_bonuses += 1
    # Points redeemed (net of cancels) by members younger than 7 days at the time.
    for item in (
        LedgerEntry.objects.filter(
            transaction__kind__in=[
                LedgerTransaction.Kind.REDEEM,
                LedgerTransaction.Kind.REDEEM_CANCEL,
            ],
            transaction__created_at__gte=start,
            transaction__created_at__lt=end,
            account__kind="redemption",
            transaction__member__joined_at__gt=F("transaction__created_at")
            - timedelta(days=YOUNG_MEMBER_DAYS),
        )
        .annotate(day=TruncDate("transaction__created_at"))
        .values("day", "account__merchant_id")
        .annotate(points=Sum("points"))
        .order_by()
    ):
        if item["account__merchant_id"] is not None:
            row(item["day"], item["account__merchant_id"]).young_redeemed_points = item["points"]
    limits = thresholds()
    result = sorted(rows.values(), key=lambda r: (-r.day.toordinal(), r.merchant.name))
    for item in result:
        _flag(item, limits, MERCHANT_MEASURES)
    return result


def adjustment_rows(*, first: date, last: date) -> list[AdjustmentRiskRow]:
    """Adjustments (not rejected) per requester and day: how many, and their |points|."""
    start, end = _bounds(first, last)
    limit = thresholds()["adjusted_points_by_requester"]
    rows = []
    for item in (
        AdjustmentRequest.objects.filter(requested_at__gte=start, requested_at__lt=end)
        .exclude(status=AdjustmentRequest.Status.REJECTED)
        .annotate(day=TruncDate("requested_at"))
        .values("day", "requested_by__username")
        .annotate(count=Count("id"), points=Sum(Abs("points")))
        .order_by("-day", "requested_by__username")
    ):
        adjustment = AdjustmentRiskRow(
            day=item["day"],
            requester=item["requested_by__username"],
            count=item["count"],
            points=item["points"] or 0,
        )
        if adjustment.points > limit:
            adjustment.flags = ["adjusted_points_by_requester"]
        rows.append(adjustment)
    return rows


@dataclass
class ActivityRiskRow:
    day: date
    activity: str
    community: str
    refusals: int
    by_reason: dict[str, int]
    flags: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


def activity_rows(*, first: date, last: date) -> list[ActivityRiskRow]:
    """Refused check-ins per activity and day, by reason (activities/)."""
    start, end = _bounds(first, last)
    limit = thresholds().get("activity_refusals", ACTIVITY_REFUSALS_DEFAULT)
    reasons = dict(CheckInRefusal.Reason.choices)
    rows: dict[tuple, ActivityRiskRow] = {}
    for item in (
        CheckInRefusal.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at"))
        .values("day", "activity_id", "activity__title", "activity__community__name", "reason")
        .annotate(count=Count("id"))
        .order_by("-day", "activity_id", "reason")
    ):
        row = rows.setdefault(
            (item["day"], item["activity_id"]),
            ActivityRiskRow(
                day=item["day"],
                activity=item["activity__title"],
                community=item["activity__community__name"],
                refusals=0,
                by_reason={},
            ),
        )
        row.refusals += item["count"]
        row.by_reason[str(reasons.get(item["reason"], item["reason"]))] = item["count"]
    for row in rows.values():
        if row.refusals > limit:
            row.flags = ["activity_refusals"]
    return list(rows.values())


@dataclass
class RiskReport:
    first: date
    last: date
    rows: list[RiskRow]
    adjustments: list[AdjustmentRiskRow]
    limits: dict[str, int]
    activities: list[ActivityRiskRow] = field(default_factory=list)

    @property
    def flagged_rows(self) -> list[RiskRow]:
        return [r for r in self.rows if r.flagged]

    @property
    def flagged_adjustments(self) -> list[AdjustmentRiskRow]:
        return [r for r in self.adjustments if r.flagged]

    @property
    def flagged_activities(self) -> list[ActivityRiskRow]:
        return [r for r in self.activities if r.flagged]

    @property
    def flagged(self) -> bool:
        return bool(self.flagged_rows or self.flagged_adjustments or self.flagged_activities)


def risk_report(*, first: date, last: date) -> RiskReport:
    return RiskReport(
        first=first,
        last=last,
        rows=risk_rows(first=first, last=last),
        adjustments=adjustment_rows(first=first, last=last),
        limits=thresholds(),
        activities=activity_rows(first=first, last=last),
    )
