"""Reads of the ledger: balances, spendable points, and the verification of its invariants."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Sum, Value
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
from points.services.sealing import GENESIS_HASH, SEAL_VERSIONS, seal_hash, with_sealed_rows


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


@dataclass(frozen=True)
class Finding:
    """One named discrepancy: a stable `code` for machines, a sentence for people."""

    code: str
    message: str
    transaction_id: int | None = None

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def as_json(self) -> dict:
        return {"code": self.code, "message": self.message, "transaction": self.transaction_id}


@dataclass
class LedgerReport:
    transactions: int = 0
    entries: int = 0
    member_accounts: int = 0
    lots: int = 0
    sealed: int = 0
    unsealed: int = 0
    accounts_in_debt: int = 0
    head_hash: str = GENESIS_HASH
    latest_checkpoint: dict | None = None
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def problems(self) -> list[str]:
        return [finding.message for finding in self.findings]

    def add(self, code: str, message: str, transaction_id: int | None = None) -> None:
        self.findings.append(Finding(code, message, transaction_id))

    def as_json(self) -> dict:
        return {
            "ok": self.ok,
            "transactions": self.transactions,
            "entries": self.entries,
            "member_accounts": self.member_accounts,
            "lots": self.lots,
            "sealed": self.sealed,
            "unsealed": self.unsealed,
            "accounts_in_debt": self.accounts_in_debt,
            "head_hash": self.head_hash,
            "latest_checkpoint": self.latest_checkpoint,
            "checkpoints": self.checkpoints,
            "findings": [finding.as_json() for finding in self.findings],
        }


def ledger_verify(*, batch_size: int = 2000, reconcile: bool = True) -> LedgerReport:
    """Recompute every invariant of the ledger and name each discrepancy; never raise.

    Zero sums, cached balances, lots, the seal chain, the signed checkpoints (each must be a
    prefix of today's chain) and, with `reconcile`, every transaction against its business
    document and the accounts its kind may touch (points.reconciliation). A check that
    cannot run on a damaged database is itself a finding.
    """
    report = LedgerReport()
    checks = [
        ("counts", _count_rows),
        ("zero_sum", _check_zero_sum),
        ("balances", _check_balances),
        ("lots", _check_lots),
        ("seal_chain", lambda r: _check_seal_chain(r, batch_size=batch_size)),
    ]
    if reconcile:
        checks.append(("reconciliation", _check_reconciliation))
    for name, check in checks:
        try:
            with transaction.atomic():  # a savepoint: a failed check leaves the others usable
                check(report)
        except Exception as error:  # noqa: BLE001 - a damaged database is a finding, not a crash
            report.add("check_failed", f"the {name} check could not run: {error!s:.300}")
    return report


def _count_rows(report: LedgerReport) -> None:
    report.transactions = LedgerTransaction.objects.count()
    report.entries = LedgerEntry.objects.count()
    report.member_accounts = Account.objects.filter(kind__in=Account.MEMBER_KINDS).count()
    report.lots = PointLot.objects.count()


def _check_zero_sum(report: LedgerReport) -> None:
    unbalanced = (
        LedgerEntry.objects.values("transaction_id")
        .annotate(total=Sum("points"))
        .exclude(total=0)
        .order_by("transaction_id")
    )
    for row in unbalanced:
        report.add(
            "unbalanced",
            f"transaction {row['transaction_id']}: entries sum to {row['total']}, not 0",
            row["transaction_id"],
        )
    for txn_id in LedgerTransaction.objects.filter(entries__isnull=True).values_list(
        "id", flat=True
    ):
        report.add("no_entries", f"transaction {txn_id}: has no entries", txn_id)
    # NOT EXISTS, an anti-join: `exclude(transaction_id__in=...)` is NOT IN, which PostgreSQL
    # cannot hash past work_mem and then probes row by row (minutes at bench size).
    orphans = LedgerEntry.objects.filter(
        ~Exists(LedgerTransaction.objects.filter(pk=OuterRef("transaction_id")))
    ).values_list("id", "transaction_id")
    for entry_id, txn_id in orphans:
        report.add("orphan_entry", f"entry {entry_id}: its transaction {txn_id} is missing", txn_id)


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
            report.add(
                "balance_mismatch",
                f"account {account.code}: cached balance {account.balance} "
                f"but its entries sum to {account.entry_total}",
            )
        else:
            report.add(
                "lots_mismatch",
                f"account {account.code}: open lots hold {account.lot_total} "
                f"but the balance is {account.balance}",
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
        report.add(
            "lot_mismatch",
            f"lot {lot.pk} (account {lot.account_id}): remaining {lot.remaining} but "
            f"{lot.points} credited - {lot.allocated} allocated = {lot.points - lot.allocated}",
        )


def _check_seal_chain(report: LedgerReport, *, batch_size: int) -> None:
    """Walk the chain in seal order; then check every checkpoint against it."""
    from points.services.checkpoints import all_checkpoints

    checkpoints, checkpoint_findings = all_checkpoints()
    for code, message in checkpoint_findings:
        report.add(code, message)
    wanted = {c["sealed_count"] for c in checkpoints if isinstance(c.get("sealed_count"), int)}
    hash_at: dict[int, str] = {}
    prev_hash = GENESIS_HASH
    last_id = 0
    position = 0
    while True:
        seals = list(LedgerSeal.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not seals:
            break
        txns = with_sealed_rows(
            LedgerTransaction.objects.filter(pk__in=[s.transaction_id for s in seals])
        ).in_bulk()
        for seal in seals:
            position += 1
            where = f"seal {seal.pk} (transaction {seal.transaction_id})"
            if seal.prev_hash != prev_hash:
                report.add(
                    "chain_broken",
                    f"{where}: chain broken, previous hash does not match seal #{position - 1}",
                    seal.transaction_id,
                )
            txn = txns.get(seal.transaction_id)
            if txn is None:
                report.add(
                    "sealed_transaction_missing",
                    f"{where}: the sealed transaction is gone",
                    seal.transaction_id,
                )
            elif seal.seal_version not in SEAL_VERSIONS:
                report.add(
                    "unknown_seal_version",
                    f"{where}: seal version {seal.seal_version} is not one this code knows",
                    seal.transaction_id,
                )
            elif seal.hash != seal_hash(seal.prev_hash, txn, seal.seal_version):
                report.add(
                    "seal_hash_mismatch",
                    f"{where}: hash mismatch, the sealed rows were changed",
                    seal.transaction_id,
                )
            prev_hash = seal.hash
            if position in wanted:
                hash_at[position] = seal.hash
        last_id = seals[-1].pk
    report.sealed = position
    report.head_hash = prev_hash
    report.unsealed = max(report.transactions - report.sealed, 0)
    _check_checkpoints_against_chain(report, checkpoints, hash_at)


def _check_checkpoints_against_chain(report, checkpoints: list[dict], hash_at: dict) -> None:
    for checkpoint in checkpoints:
        count, seq = checkpoint.get("sealed_count"), checkpoint.get("seq")
        if not isinstance(count, int):
            continue
        if count > report.sealed:
            report.add(
                "checkpoint_beyond_chain",
                f"checkpoint #{seq} signed {count} sealed transactions but the chain now has "
                f"{report.sealed}: sealed history was deleted",
            )
        elif hash_at.get(count) != checkpoint.get("head_hash"):
            report.add(
                "checkpoint_mismatch",
                f"checkpoint #{seq}: seal #{count} is no longer {checkpoint.get('head_hash')}: "
                f"sealed history was rewritten",
            )
    if checkpoints:
        report.latest_checkpoint = max(checkpoints, key=lambda c: c.get("seq") or 0)
        report.checkpoints = len(checkpoints)


def _check_reconciliation(report: LedgerReport) -> None:
    from points.reconciliation import reconciliation_findings

    for code, txn_id, message in reconciliation_findings():
        report.add(code, f"transaction {txn_id}: {message}", txn_id)


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
