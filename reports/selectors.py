"""Reads for reports: green figures, community and merchant analytics, settlement.

Everything here is computed from the ledger (entries, lots, allocations) and from purchase
lines; see docs/reports.md for the definitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.db.models import (
    BigIntegerField,
    Count,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from activities.selectors import activity_participation
from merchants.models import Merchant
from merchants.money import format_yuan
from points.models import (
    Account,
    Community,
    LedgerCheckpoint,
    LedgerEntry,
    LedgerSeal,
    LedgerTransaction,
    LotAllocation,
    Member,
    PointLot,
    PurchaseLine,
)
from reports.models import GreenReport, LedgerVerification
from reports.periods import Period, day_start, months_back, next_month

# One mature tree absorbs about 21.77 kg of CO₂ a year (docs/reports.md gives the source).
TREE_KG_CO2_PER_YEAR = 21.77

# CO₂e of the units still kept: a refunded unit no longer saves anything (pro rata, rounded
# down per line, integer grams).
NET_CARBON_G = ExpressionWrapper(
    F("carbon_saved_g") * (F("quantity") - F("refunded_quantity")) / F("quantity"),
    output_field=BigIntegerField(),
)
NET_AMOUNT_FEN = ExpressionWrapper(
    F("amount_fen") * (F("quantity") - F("refunded_quantity")) / F("quantity"),
    output_field=BigIntegerField(),
)


def _in_period(prefix: str, start: datetime, end: datetime) -> Q:
    return Q(**{f"{prefix}__gte": start, f"{prefix}__lt": end})


def _month_key(moment) -> date:
    local = timezone.localtime(moment) if isinstance(moment, datetime) else moment
    return date(local.year, local.month, 1)


def green_lines(**filters) -> QuerySet[PurchaseLine]:
    """Purchase lines that saved CO₂e (green products)."""
    return PurchaseLine.objects.filter(carbon_saved_g__gt=0, **filters)


def carbon_saved_g(lines: QuerySet[PurchaseLine]) -> int:
    return lines.aggregate(total=Sum(NET_CARBON_G))["total"] or 0


def green_entries(members_filter: Q) -> QuerySet[LedgerEntry]:
    """Entries on members' green accounts, each with `when`: the time of the purchase that
    earned it or that a refund reverses (so points and CO₂e fall in the same month), else
    the time the ledger recorded it (adjustments)."""
    return LedgerEntry.objects.filter(members_filter, account__kind=Account.Kind.GREEN).annotate(
        when=Coalesce(
            "transaction__purchase__occurred_at",
            "transaction__reverses__purchase__occurred_at",
            "transaction__created_at",
        )
    )


def green_points_of(members_filter: Q, start: datetime | None, end: datetime) -> int:
    """Net green points on the given members' green accounts in [start, end)."""
    entries = green_entries(members_filter).filter(when__lt=end)
    if start is not None:
        entries = entries.filter(when__gte=start)
    return entries.aggregate(total=Sum("points"))["total"] or 0


def carbon_by_month(lines: QuerySet[PurchaseLine]) -> dict[date, int]:
    rows = (
        lines.annotate(month=TruncMonth("purchase__occurred_at"))
        .values("month")
        .annotate(total=Sum(NET_CARBON_G))
        .order_by("month")
    )
    return {_month_key(row["month"]): row["total"] or 0 for row in rows}


def carbon_by_category(lines: QuerySet[PurchaseLine], *, limit: int | None = None) -> list[dict]:
    rows = (
        lines.values("category__name")
        .annotate(total=Sum(NET_CARBON_G))
        .filter(total__gt=0)
        .order_by("-total", "category__name")
    )
    rows = rows[:limit] if limit else rows
    return [
        {"category": row["category__name"] or "—", "carbon_g": row["total"], "kg": kg(row["total"])}
        for row in rows
    ]


def period_name(period: Period) -> str:
    """'2026年11月' / '2026年' (or 'November 2026' style in English)."""
    if period.kind == "year":
        return _("year %(year)d") % {"year": period.start.year}
    return _("%(year)d-%(month)02d") % {"year": period.start.year, "month": period.start.month}


def kg(grams: int) -> float:
    return round(grams / 1000, 2)


def trees_equivalent(grams: int, *, months: int = 12) -> float:
    """How many trees absorb this much CO₂ in `months` months (a year by default)."""
    return round(grams / 1000 / (TREE_KG_CO2_PER_YEAR * months / 12), 1)


@dataclass
class GreenFigures:
    member: Member
    period: Period
    green_points: int
    carbon_g: int
    by_category: list[dict]
    trend: list[dict]  # the 12 months ending with the period's last month
    community_name: str | None
    community_members: int
    community_average_g: int | None
    community_average_points: int | None
    lifetime_carbon_g: int
    lifetime_green_points: int
    activities: list[dict] = field(default_factory=list)  # community activities attended

    @property
    def activity_points(self) -> int:
        return sum(row["points"] for row in self.activities)

    @property
    def activity_kg(self) -> float:
        return kg(sum(row["carbon_g"] for row in self.activities))

    @property
    def has_green(self) -> bool:
        return self.carbon_g > 0 or self.green_points != 0 or bool(self.activities)

    @property
    def months_in_period(self) -> int:
        return 12 if self.period.kind == "year" else 1

    @property
    def trees(self) -> float:
        return trees_equivalent(self.carbon_g)

    @property
    def kg(self) -> float:
        return kg(self.carbon_g)

    @property
    def lifetime_kg(self) -> float:
        return kg(self.lifetime_carbon_g)

    @property
    def lifetime_trees(self) -> float:
        return trees_equivalent(self.lifetime_carbon_g)

    @property
    def community_average_kg(self) -> float | None:
        return None if self.community_average_g is None else kg(self.community_average_g)


def member_green_figures(member: Member, period: Period) -> GreenFigures:
    """The numbers of a member's green report for one month or year."""
    start, end = period.bounds
    own = Q(purchase__member=member)
    in_period = _in_period("purchase__occurred_at", start, end)
    lines = green_lines().filter(own & in_period)
    trend_months = months_back(period.months[-1], 12)
    by_month = carbon_by_month(
        green_lines()
        .filter(own, purchase__occurred_at__gte=day_start(trend_months[0]))
        .filter(purchase__occurred_at__lt=end)
    )
    community = member.community
    community_members = average_g = average_points = None
    if community is not None:
        community_members = Member.objects.filter(community=community).count()
        community_g = carbon_saved_g(
            green_lines().filter(in_period, purchase__member__community=community)
        )
        community_points = green_points_of(Q(account__member__community=community), start, end)
        average_g = community_g // community_members
        average_points = community_points // community_members
    return GreenFigures(
        member=member,
        period=period,
        green_points=green_points_of(Q(account__member=member), start, end),
        carbon_g=carbon_saved_g(lines),
        by_category=carbon_by_category(lines),
        trend=[
            {"month": month, "carbon_g": by_month.get(month, 0), "kg": kg(by_month.get(month, 0))}
            for month in trend_months
        ],
        community_name=community.name if community else None,
        community_members=community_members or 0,
        community_average_g=average_g,
        community_average_points=average_points,
        lifetime_carbon_g=carbon_saved_g(green_lines().filter(own, purchase__occurred_at__lt=end)),
        lifetime_green_points=green_points_of(Q(account__member=member), None, end),
        activities=activity_participation(Q(member=member), start, end),
    )


def member_green_reports(member: Member) -> QuerySet[GreenReport]:
    return GreenReport.objects.filter(member=member).order_by("-period_start", "period")


# --- Communities --------------------------------------------------------------------------


@dataclass
class CommunityMonth:
    month: date
    participants: int = 0
    green_points: int = 0
    carbon_g: int = 0

    @property
    def kg(self) -> float:
        return kg(self.carbon_g)


@dataclass
class CommunityFigures:
    community: Community
    period: Period
    members: int
    months: list[CommunityMonth]
    top_categories: list[dict]
    participants: int  # distinct members with a purchase in the period
    activities: list[dict] = field(default_factory=list)  # its members at activities

    @property
    def activity_points(self) -> int:
        return sum(row["points"] for row in self.activities)

    @property
    def activity_kg(self) -> float:
        return kg(sum(row["carbon_g"] for row in self.activities))

    @property
    def green_points(self) -> int:
        return sum(m.green_points for m in self.months)

    @property
    def carbon_g(self) -> int:
        return sum(m.carbon_g for m in self.months)

    @property
    def kg(self) -> float:
        return kg(self.carbon_g)

    @property
    def trees(self) -> float:
        return trees_equivalent(self.carbon_g)


def community_figures(community: Community, period: Period) -> CommunityFigures:
    """Participants, green points and CO₂e of a community's members, month by month."""
    start, end = period.bounds
    of_community = Q(purchase__member__community=community)
    lines = green_lines().filter(of_community, _in_period("purchase__occurred_at", start, end))
    months = {m: CommunityMonth(month=m) for m in period.months}
    for month, grams in carbon_by_month(lines).items():
        months[month].carbon_g = grams
    participants = (
        PurchaseLine.objects.filter(of_community, _in_period("purchase__occurred_at", start, end))
        .annotate(month=TruncMonth("purchase__occurred_at"))
        .values("month")
        .annotate(members=Count("purchase__member", distinct=True))
        .order_by("month")
    )
    for row in participants:
        months[_month_key(row["month"])].participants = row["members"]
    points = (
        green_entries(Q(account__member__community=community))
        .filter(when__gte=start, when__lt=end)
        .annotate(month=TruncMonth("when"))
        .values("month")
        .annotate(total=Sum("points"))
        .order_by("month")
    )
    for row in points:
        months[_month_key(row["month"])].green_points = row["total"] or 0
    return CommunityFigures(
        community=community,
        period=period,
        members=Member.objects.filter(community=community).count(),
        months=list(months.values()),
        top_categories=carbon_by_category(lines, limit=5),
        participants=PurchaseLine.objects.filter(
            of_community, _in_period("purchase__occurred_at", start, end)
        )
        .values("purchase__member")
        .distinct()
        .count(),
        activities=activity_participation(Q(member__community=community), start, end),
    )


# --- Merchants and settlement -----------------------------------------------------------


def _entry_sum(entries: QuerySet[LedgerEntry]) -> int:
    return entries.aggregate(total=Sum("points"))["total"] or 0


def _entries(kind: str, merchant: Merchant | None, start=None, end=None, *, at_purchase_time=False):
    """Entries on the system account of `kind`, posted in [start, end) — or, with
    `at_purchase_time`, those whose purchase happened then (an earn is dated by its
    purchase's occurred_at, a refund by the purchase it reverses, anything else by its
    posting), so analytics date points and sales by the same moment."""
    entries = LedgerEntry.objects.filter(account__kind=kind)
    entries = (
        entries.filter(account__merchant=merchant)
        if merchant is not None
        else entries.filter(account__merchant__isnull=True)
    )
    moment = "transaction__created_at"
    if at_purchase_time and (start is not None or end is not None):
        entries = entries.annotate(
            moment=Coalesce(
                "transaction__purchase__occurred_at",
                "transaction__reverses__purchase__occurred_at",
                "transaction__created_at",
            )
        )
        moment = "moment"
    if start is not None:
        entries = entries.filter(**{f"{moment}__gte": start})
    if end is not None:
        entries = entries.filter(**{f"{moment}__lt": end})
    return entries


def points_issued(
    merchant: Merchant | None, start=None, end=None, *, at_purchase_time: bool = False
) -> int:
    """Standard points issued (net of refunds): the negated sum on `issuance:<slug>`."""
    return -_entry_sum(
        _entries(Account.Kind.ISSUANCE, merchant, start, end, at_purchase_time=at_purchase_time)
    )


def points_redeemed_at(merchant: Merchant | None, start=None, end=None) -> int:
    """Points spent at the merchant (net of cancellations): the sum on `redemption:<slug>`."""
    return _entry_sum(_entries(Account.Kind.REDEMPTION, merchant, start, end))


def points_expired_from(merchant: Merchant, start=None, end=None) -> int:
    """Points of lots the merchant credited that were taken by expiry."""
    allocations = LotAllocation.objects.filter(
        transaction__kind=LedgerTransaction.Kind.EXPIRE,
        lot__transaction__merchant=merchant,
        lot__account__kind=Account.Kind.STANDARD,
    )
    if start is not None:
        allocations = allocations.filter(transaction__created_at__gte=start)
    if end is not None:
        allocations = allocations.filter(transaction__created_at__lt=end)
    return allocations.aggregate(total=Sum("points"))["total"] or 0


def outstanding_liability(merchant: Merchant, *, now: datetime | None = None) -> int:
    """Unexpired points members still hold on lots this merchant's transactions credited."""
    now = now or timezone.now()
    return (
        PointLot.objects.filter(
            transaction__merchant=merchant,
            account__kind=Account.Kind.STANDARD,
            remaining__gt=0,
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .aggregate(total=Sum("remaining"))["total"]
        or 0
    )


@dataclass
class MerchantFigures:
    merchant: Merchant
    period: Period
    issued: int
    redeemed: int
    expired: int
    issued_lifetime: int
    redeemed_lifetime: int
    expired_lifetime: int
    liability: int
    sales_fen: int
    green_sales_fen: int
    green_points: int
    carbon_g: int
    months: list[dict] = field(default_factory=list)

    @property
    def sales_yuan(self) -> str:
        return format_yuan(self.sales_fen)

    @property
    def green_sales_yuan(self) -> str:
        return format_yuan(self.green_sales_fen)

    @property
    def green_share_percent(self) -> float:
        return round(100 * self.green_sales_fen / self.sales_fen, 1) if self.sales_fen else 0.0

    @property
    def kg(self) -> float:
        return kg(self.carbon_g)


def merchant_figures(merchant: Merchant, period: Period) -> MerchantFigures:
    """A merchant's own numbers: issued, redeemed there, liability, green sales share."""
    start, end = period.bounds
    lines = PurchaseLine.objects.filter(
        purchase__merchant=merchant, **{"purchase__occurred_at__gte": start}
    ).filter(purchase__occurred_at__lt=end)
    sales = lines.aggregate(
        total=Sum(NET_AMOUNT_FEN),
        green=Sum(NET_AMOUNT_FEN, filter=Q(carbon_saved_g__gt=0)),
        carbon=Sum(NET_CARBON_G, filter=Q(carbon_saved_g__gt=0)),
    )
    green_points = -_entry_sum(
        _entries(Account.Kind.GREEN_ISSUANCE, merchant, start, end, at_purchase_time=True)
    )
    months = []
    for month in months_back(period.months[-1], 12):
        month_start, month_end = day_start(month), day_start(next_month(month))
        months.append(
            {
                "month": month,
                "issued": points_issued(merchant, month_start, month_end, at_purchase_time=True),
                "redeemed": points_redeemed_at(merchant, month_start, month_end),
            }
        )
    return MerchantFigures(
        merchant=merchant,
        period=period,
        issued=points_issued(merchant, start, end, at_purchase_time=True),
        redeemed=points_redeemed_at(merchant, start, end),
        expired=points_expired_from(merchant, start, end),
        issued_lifetime=points_issued(merchant),
        redeemed_lifetime=points_redeemed_at(merchant),
        expired_lifetime=points_expired_from(merchant),
        liability=outstanding_liability(merchant),
        sales_fen=sales["total"] or 0,
        green_sales_fen=sales["green"] or 0,
        green_points=green_points,
        carbon_g=sales["carbon"] or 0,
        months=months,
    )


@dataclass
class SettlementLine:
    merchant: Merchant | None  # None: the platform (sign-up and first-purchase bonuses)
    issued: int
    redeemed: int
    fen_per_point: int
    # Of `redeemed`: points that came from platform bonuses and from manual adjustments
    # (by the lots the redemptions consumed), and the bonus points the merchant is paid for.
    redeemed_bonus: int = 0
    redeemed_adjusted: int = 0
    bonus_paid: int = 0
    label: str = ""  # the platform's lines: "bonuses" or "adjustments"

    @property
    def name(self) -> str:
        return self.merchant.name if self.merchant else "platform"

    @property
    def slug(self) -> str:
        if self.merchant:
            return self.merchant.slug
        return "platform-adjustments" if self.label == "adjustments" else "platform"

    @property
    def redeemed_earned(self) -> int:
        """Redeemed points that members earned by purchases (or were otherwise owed)."""
        return self.redeemed - self.redeemed_bonus - self.redeemed_adjusted

    @property
    def bonus_unpaid(self) -> int:
        return self.redeemed_bonus - self.bonus_paid

    @property
    def redeemed_paid(self) -> int:
        """The redeemed points the merchant is paid for: bonus points only up to the cap."""
        return self.redeemed - self.bonus_unpaid

    @property
    def net_points(self) -> int:
        """Positive: the coalition owes the merchant; negative: the merchant owes it."""
        return self.redeemed_paid - self.issued

    @property
    def net_fen(self) -> int:
        return self.net_points * self.fen_per_point


@dataclass
class Settlement:
    period: Period
    fen_per_point: int
    lines: list[SettlementLine]
    bonus_share_max: float = 0.0

    @property
    def issued(self) -> int:
        return sum(line.issued for line in self.lines)

    @property
    def redeemed(self) -> int:
        return sum(line.redeemed for line in self.lines)

    @property
    def redeemed_bonus(self) -> int:
        return sum(line.redeemed_bonus for line in self.lines)

    @property
    def bonus_paid(self) -> int:
        return sum(line.bonus_paid for line in self.lines)

    @property
    def net_points(self) -> int:
        return sum(line.net_points for line in self.lines)

    @property
    def net_fen(self) -> int:
        return sum(line.net_fen for line in self.lines)

    @property
    def bonus_share_percent(self) -> int:
        return round(self.bonus_share_max * 100)


def bonus_payable(*, redeemed_earned: int, redeemed_bonus: int, share_max: float) -> int:
    """Bonus points a merchant is paid for in a month: at most `share_max` of the points
    members earned by real purchases and redeemed there (so farming its own reward with
    bonus points pays nothing without real sales)."""
    cap = int(max(redeemed_earned, 0) * share_max)
    return max(0, min(redeemed_bonus, cap))


def settlement_statement(period: Period, *, merchant: Merchant | None = None) -> Settlement:
    """Points issued by and redeemed at each merchant in the month, and the net in fen.

    Redeemed points are attributed by the lots the redemptions consumed: platform bonus
    points are shown on their own and paid only up to SETTLEMENT_BONUS_SHARE_MAX of the
    purchase-earned points redeemed there; adjustments have their own platform line. With
    `merchant`, only that merchant's line (what its own users may see).
    """
    start, end = period.bounds
    fen = settings.SETTLEMENT_FEN_PER_POINT
    share_max = settings.SETTLEMENT_BONUS_SHARE_MAX
    in_period = Q(transaction__created_at__gte=start, transaction__created_at__lt=end)
    sums = (
        LedgerEntry.objects.filter(
            in_period,
            account__kind__in=[
                Account.Kind.ISSUANCE,
                Account.Kind.REDEMPTION,
                Account.Kind.ADJUSTMENT,
            ],
        )
        .values("account__merchant", "account__kind")
        .annotate(total=Sum("points"))
        .order_by()
    )
    issued: dict[int | None, int] = {}
    redeemed: dict[int | None, int] = {}
    adjusted = 0
    for row in sums:
        if row["account__kind"] == Account.Kind.ADJUSTMENT:
            adjusted -= row["total"] or 0  # points granted to members (net of deductions)
            continue
        target = issued if row["account__kind"] == Account.Kind.ISSUANCE else redeemed
        sign = -1 if row["account__kind"] == Account.Kind.ISSUANCE else 1
        target[row["account__merchant"]] = sign * (row["total"] or 0)
    by_origin = (
        LotAllocation.objects.filter(
            in_period,
            transaction__kind__in=[
                LedgerTransaction.Kind.REDEEM,
                LedgerTransaction.Kind.REDEEM_CANCEL,
            ],
            lot__transaction__kind__in=[
                LedgerTransaction.Kind.BONUS,
                LedgerTransaction.Kind.ADJUST,
            ],
        )
        .values("transaction__merchant", "lot__transaction__kind")
        .annotate(total=Sum("points"))
        .order_by()
    )
    from_bonus: dict[int | None, int] = {}
    from_adjustment: dict[int | None, int] = {}
    for row in by_origin:
        target = (
            from_bonus
            if row["lot__transaction__kind"] == LedgerTransaction.Kind.BONUS
            else from_adjustment
        )
        target[row["transaction__merchant"]] = row["total"] or 0
    merchants = Merchant.objects.order_by("name", "pk")
    if merchant is not None:
        merchants = merchants.filter(pk=merchant.pk)
    lines = []
    for m in merchants:
        total = redeemed.get(m.pk, 0)
        bonus = from_bonus.get(m.pk, 0)
        adjustment = from_adjustment.get(m.pk, 0)
        lines.append(
            SettlementLine(
                m,
                issued.get(m.pk, 0),
                total,
                fen,
                redeemed_bonus=bonus,
                redeemed_adjusted=adjustment,
                bonus_paid=bonus_payable(
                    redeemed_earned=total - bonus - adjustment,
                    redeemed_bonus=bonus,
                    share_max=share_max,
                ),
            )
        )
    if merchant is None:
        if issued.get(None) or redeemed.get(None):
            lines.append(
                SettlementLine(
                    None, issued.get(None, 0), redeemed.get(None, 0), fen, label="bonuses"
                )
            )
        if adjusted:
            lines.append(SettlementLine(None, adjusted, 0, fen, label="adjustments"))
    return Settlement(period=period, fen_per_point=fen, lines=lines, bonus_share_max=share_max)


# --- Ledger integrity ---------------------------------------------------------------------


@dataclass
class IntegrityStatus:
    head: LedgerSeal | None
    transactions: int
    sealed: int
    last_verification: LedgerVerification | None
    latest_checkpoint: LedgerCheckpoint | None = None

    @property
    def unsealed(self) -> int:
        return self.transactions - self.sealed


def ledger_integrity_status() -> IntegrityStatus:
    return IntegrityStatus(
        head=LedgerSeal.objects.select_related("transaction").order_by("-id").first(),
        transactions=LedgerTransaction.objects.count(),
        sealed=LedgerSeal.objects.count(),
        last_verification=LedgerVerification.objects.order_by("-started_at", "-id").first(),
        latest_checkpoint=LedgerCheckpoint.objects.order_by("-seq").first(),
    )


def top_rewards(merchant: Merchant, period: Period, *, limit: int = 5) -> list[dict]:
    """The merchant's most redeemed rewards in the period (cancelled redemptions excluded)."""
    from redemption.models import Redemption

    start, end = period.bounds
    return list(
        Redemption.objects.filter(merchant=merchant, created_at__gte=start, created_at__lt=end)
        .exclude(status=Redemption.Status.CANCELLED)
        .values("reward_id", "reward__title")
        .annotate(redemptions=Count("id"), units=Sum("quantity"), points=Sum("points_total"))
        .order_by("-units", "-points", "reward_id")[:limit]
    )
