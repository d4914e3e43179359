"""Reads of the ledger: balances, spendable points, and the verification of its invariants."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from points.models import (
    Account,
    LedgerEntry,
    LedgerSeal,
    LedgerTransaction,
    LotAllocation,
    Member,
    PointLot,
)
from points.months import next_month
from points.services.sealing import GENESIS_HASH, seal_hash, with_sealed_rows


def spendable_lots(*, now: datetime | None = None):
    """Open lots that have not expired at `now`: what spendable points are made of."""
    now = now or timezone.now()
    return PointLot.objects.filter(remaining__gt=0).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def spendable_balance(account: Account, *, now: datetime | None = None) -> int:
    """Points the member can spend now: unexpired lots (a debt leaves nothing spendable)."""
    total = (
        spendable_lots(now=now).filter(account=account).aggregate(total=Sum("remaining"))["total"]
    )
    return total or 0


def account_balance_from_entries(account: Account) -> int:
    """The authoritative balance: the sum of the account's entries (system accounts use this)."""
    return LedgerEntry.objects.filter(account=account).aggregate(total=Sum("points"))["total"] or 0


def member_balances(member: Member) -> dict[str, int]:
    balances = {kind: 0 for kind in Account.MEMBER_KINDS}
    balances.update(Account.objects.filter(member=member).values_list("kind", "balance"))
    return balances


def recent_transactions(member: Member, *, limit: int = 10):
    """The member's newest transactions: when, what kind, at which merchant, and how many
    points and green points they moved on the member's accounts (only those columns: the
    breakdown JSON and the rest are not decoded for a list of ten lines)."""

    def moved(kind: str):
        return Coalesce(
            Subquery(
                LedgerEntry.objects.filter(
                    transaction=OuterRef("pk"), account__member=member, account__kind=kind
                )
                .values("transaction")
                .annotate(total=Sum("points"))
                .values("total")[:1]
            ),
            Value(0),
        )

    return (
        LedgerTransaction.objects.filter(member=member)
        .select_related("merchant")
        .only("created_at", "kind", "reason", "reference", "merchant__name")
        .annotate(points=moved(Account.Kind.STANDARD), green_points=moved(Account.Kind.GREEN))
        .order_by("-created_at", "-id")[:limit]
    )


@dataclass
class LedgerReport:
    transactions: int = 0
    entries: int = 0
    member_accounts: int = 0
    lots: int = 0
    sealed: int = 0
    unsealed: int = 0
    accounts_in_debt: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def ledger_verify(*, batch_size: int = 2000) -> LedgerReport:
    """Recompute every invariant of the ledger and name each discrepancy."""
    report = LedgerReport(
        transactions=LedgerTransaction.objects.count(),
        entries=LedgerEntry.objects.count(),
        member_accounts=Account.objects.filter(kind__in=Account.MEMBER_KINDS).count(),
        lots=PointLot.objects.count(),
    )
    _check_zero_sum(report)
    _check_balances(report)
    _check_lots(report)
    _check_seal_chain(report, batch_size=batch_size)
    return report


def _check_zero_sum(report: LedgerReport) -> None:
    unbalanced = (
        LedgerEntry.objects.values("transaction_id")
        .annotate(total=Sum("points"))
        .exclude(total=0)
        .order_by("transaction_id")
    )
    for row in unbalanced:
        report.problems.append(
            f"transaction {row['transaction_id']}: entries sum to {row['total']}, not 0"
        )
    for txn_id in LedgerTransaction.objects.filter(entries__isnull=True).values_list(
        "id", flat=True
    ):
        report.problems.append(f"transaction {txn_id}: has no entries")


def _entry_sum(outer: str):
    return Coalesce(
        Subquery(
            LedgerEntry.objects.filter(account=OuterRef(outer))
            .values("account")
            .annotate(total=Sum("points"))
            .values("total")
        ),
        Value(0),
    )


def _check_balances(report: LedgerReport) -> None:
    open_lots = Coalesce(
        Subquery(
            PointLot.objects.filter(account=OuterRef("pk"))
            .values("account")
            .annotate(total=Sum("remaining"))
            .values("total")
        ),
        Value(0),
    )
    accounts = (
        Account.objects.filter(kind__in=Account.MEMBER_KINDS)
        .annotate(entry_total=_entry_sum("pk"), lot_total=open_lots)
        .filter(~Q(balance=F("entry_total")) | ~Q(lot_total=Greatest(F("balance"), Value(0))))
        .order_by("pk")
    )
    for account in accounts:
        if account.balance != account.entry_total:
            report.problems.append(
                f"account {account.code}: cached balance {account.balance} "
                f"but its entries sum to {account.entry_total}"
            )
        else:
            report.problems.append(
                f"account {account.code}: open lots hold {account.lot_total} "
                f"but the balance is {account.balance}"
            )
    report.accounts_in_debt = Account.objects.filter(
        kind__in=Account.MEMBER_KINDS, balance__lt=0
    ).count()


def _check_lots(report: LedgerReport) -> None:
    allocated = Coalesce(
        Subquery(
            LotAllocation.objects.filter(lot=OuterRef("pk"))
            .values("lot")
            .annotate(total=Sum("points"))
            .values("total")
        ),
        Value(0),
    )
    lots = (
        PointLot.objects.annotate(allocated=allocated)
        .exclude(remaining=F("points") - F("allocated"))
        .order_by("pk")
    )
    for lot in lots:
        report.problems.append(
            f"lot {lot.pk} (account {lot.account_id}): remaining {lot.remaining} but "
            f"{lot.points} credited - {lot.allocated} allocated = {lot.points - lot.allocated}"
        )


def _check_seal_chain(report: LedgerReport, *, batch_size: int) -> None:
    prev_hash = GENESIS_HASH
    last_id = 0
    while True:
        seals = list(LedgerSeal.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not seals:
            break
        txns = with_sealed_rows(
            LedgerTransaction.objects.filter(pk__in=[s.transaction_id for s in seals])
        ).in_bulk()
        for seal in seals:
            if seal.prev_hash != prev_hash:
                report.problems.append(
                    f"seal {seal.pk} (transaction {seal.transaction_id}): chain broken, "
                    f"previous hash does not match seal before it"
                )
            expected = seal_hash(seal.prev_hash, txns[seal.transaction_id])
            if seal.hash != expected:
                report.problems.append(
                    f"seal {seal.pk} (transaction {seal.transaction_id}): hash mismatch, "
                    f"the sealed rows were changed"
                )
            prev_hash = seal.hash
            report.sealed += 1
        last_id = seals[-1].pk
    report.unsealed = report.transactions - report.sealed


def member_movements(
    member: Member,
    *,
    kind: str | None = None,
    month: date | None = None,
    account_kind: str | None = None,
):
    """Every entry on the member's accounts, newest first, with the balance after it.

    The running balance is a window function over the account's whole history, computed by
    the database, then filtered: filtering never changes a row's balance after.
    """
    from django.db.models import Window

    accounts = Q(account__member=member)
    if account_kind:  # one account's own running balance (the window is per account anyway)
        accounts &= Q(account__kind=account_kind)
    rows = (
        LedgerEntry.objects.filter(accounts)
        .select_related("transaction__merchant", "transaction__purchase", "account")
        .annotate(
            balance_after=Window(
                Sum("points"),
                partition_by=[F("account_id")],
                order_by=[F("transaction_id").asc(), F("id").asc()],
            )
        )
        .order_by("-transaction__created_at", "-transaction_id", "-id")
    )
    condition = Q()
    if kind:
        condition &= Q(transaction__kind=kind)
    if month:  # the first day of a month read by points.months.parse_month
        start = timezone.make_aware(datetime.combine(month, datetime.min.time()))
        end = timezone.make_aware(datetime.combine(next_month(month), datetime.min.time()))
        condition &= Q(transaction__created_at__gte=start, transaction__created_at__lt=end)
    if condition:
        # A filter that mentions the window is applied after it (Django wraps the query);
        # a plain filter would run before it and restart every running balance at zero.
        # (c AND b IS NULL) OR (c AND b IS NOT NULL) is just c, applied after the window.
        rows = rows.filter(
            (condition & Q(balance_after__isnull=True))
            | (condition & Q(balance_after__isnull=False))
        )
    return rows


def expiring_lots(account: Account, *, days: int = 90, now: datetime | None = None):
    """(expires_at, points) of open lots expiring within `days`, soonest first."""
    from datetime import timedelta

    now = now or timezone.now()
    return (
        PointLot.objects.filter(
            account=account,
            remaining__gt=0,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=days),
        )
        .order_by("expires_at")
        .values_list("expires_at", "remaining")
    )


def unread_notification_count(member: Member) -> int:
    from points.models import Notification

    return Notification.objects.filter(member=member, read_at__isnull=True).count()
