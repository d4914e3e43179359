"""Which accounts each kind of ledger transaction may touch, and which document backs it.

One table, `KIND_RULES`: kind -> `KindRule(accounts=..., document=...)`. `verify_ledger`
names every transaction that posts to an account kind its rule does not allow, that moves
no member account although its kind must, or whose document check names it.

To add a kind (e.g. a first-purchase-bonus reversal, an SMS sign-up bonus, `green_activity`):
call `kind_rule_register("green_activity", KindRule(accounts=..., document=check))`, from
the owning app's `AppConfig.ready()` when the document lives in an app right of `points`
(redemption registers `redeem`, `redeem_cancel` and `compensation` that way). A document
check takes the queryset of that kind's transactions and yields (transaction id, problem)
for each one whose document is missing or disagrees; make it a few set-based queries.
docs/audit.md lists the table as an auditor reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby

from django.conf import settings
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from points.models import (
    Account,
    AdjustmentRequest,
    LedgerEntry,
    LedgerTransaction,
    LotAllocation,
    PurchaseLine,
)

DocumentCheck = Callable[[QuerySet], Iterable[tuple[int, str]]]
K = Account.Kind


@dataclass(frozen=True)
class KindRule:
    """`accounts`: account kinds its entries may post to; `document`: its document check."""

    accounts: frozenset[str]
    document: DocumentCheck | None = None
    needs_member_account: bool = True
    document_name: str = ""
    notes: tuple[str, ...] = field(default=())


def entry_total(account_kinds: Iterable[str]):
    """Subquery: the sum of a transaction's entries on accounts of `account_kinds`."""
    return Coalesce(
        Subquery(
            LedgerEntry.objects.filter(
                transaction=OuterRef("pk"), account__kind__in=list(account_kinds)
            )
            .values("transaction")
            .annotate(total=Sum("points"))
            .values("total")
        ),
        Value(0),
    )


def _earn_document(txns: QuerySet) -> Iterator[tuple[int, str]]:
    for txn_id in txns.filter(purchase__isnull=True).values_list("id", flat=True):
        yield txn_id, "no purchase behind it"
    disagreeing = (
        txns.filter(purchase__isnull=False)
        .annotate(standard=entry_total([K.STANDARD]), green=entry_total([K.GREEN]))
        .filter(
            ~Q(standard=F("purchase__points"))
            | ~Q(green=F("purchase__green_points"))
            | ~Q(member_id=F("purchase__member_id"))
            | ~Q(merchant_id=F("purchase__merchant_id"))
        )
        .values_list("id", "purchase__receipt_no")
    )
    for txn_id, receipt in disagreeing:
        yield txn_id, f"disagrees with its purchase {receipt} (points, member or merchant)"
    yield from _earn_rules_check(txns)


def _earn_rules_check(txns: QuerySet) -> Iterator[tuple[int, str]]:
    """Recompute each purchase's points from its lines with the rules of its day (the
    versions in force when it was recorded, `points.rule_history`): the purchase, each line
    and so the posting must agree with them."""
    from points.rule_history import STALE_ALLOWANCE, RuleBook

    purchases = txns.filter(purchase__isnull=False)
    for txn_id, receipt in purchases.filter(purchase__lines__isnull=True).values_list(
        "id", "purchase__receipt_no"
    ):
        yield txn_id, f"purchase {receipt} has no lines to earn from"
    book = RuleBook(purchases.values_list("merchant_id", flat=True).distinct())
    rows = (
        PurchaseLine.objects.filter(purchase__transaction__in=purchases)
        .order_by("purchase_id", "line_no")
        .values_list(
            "purchase__transaction_id",
            "purchase__merchant_id",
            "purchase__transaction__created_at",
            "purchase__occurred_at",
            "purchase__receipt_no",
            "purchase__points",
            "purchase__green_points",
            "line_no",
            "product_id",
            "category_id",
            "quantity",
            "amount_fen",
            "points",
            "green_points",
            "carbon_saved_g",
        )
        .iterator(chunk_size=2000)
    )
    for (txn_id, merchant_id, created_at, occurred_at, receipt, points, green), group in groupby(
        rows, key=lambda row: row[:7]
    ):
        lines = [
            dict(
                zip(
                    ("line_no", "product_id", "category_id", "quantity", "amount_fen"),
                    row[7:12],
                    strict=True,
                )
            )
            | {"earned": row[12:15]}
            for row in group
        ]
        wanted = (points, green, [line["earned"] for line in lines])
        expected = None
        for before in (None, created_at - STALE_ALLOWANCE):
            earned = book.earn(
                merchant_id=merchant_id,
                txn_id=txn_id,
                before=before,
                occurred_at=occurred_at,
                lines=lines,
            )
            got = earned and (
                earned.points,
                earned.green_points,
                [(e.points, e.green_points, e.carbon_saved_g) for e in earned.lines],
            )
            if got == wanted:
                break
            expected = expected or earned
        else:
            if expected is None:
                yield (
                    txn_id,
                    f"purchase {receipt} names a category or product unknown then",
                )
            else:
                yield (
                    txn_id,
                    f"purchase {receipt} earned {points} points ({green} green) but the rules "
                    f"of {timezone.localdate(occurred_at)} give {expected.points} "
                    f"({expected.green_points} green), line by line",
                )


def _refund_document(txns: QuerySet) -> Iterator[tuple[int, str]]:
    for txn_id in txns.filter(refund__isnull=True).values_list("id", flat=True):
        yield txn_id, "no refund behind it"
    disagreeing = (
        txns.filter(refund__isnull=False)
        .filter(
            ~Q(member_id=F("refund__purchase__member_id"))
            | ~Q(merchant_id=F("refund__purchase__merchant_id"))
            | ~Q(reverses_id=F("refund__purchase__transaction_id"))
        )
        .values_list("id", flat=True)
    )
    for txn_id in disagreeing:
        yield txn_id, "disagrees with its refund (member, merchant or reversed purchase)"


def _adjust_document(txns: QuerySet) -> Iterator[tuple[int, str]]:
    for txn_id in txns.filter(adjustment__isnull=True).values_list("id", flat=True):
        yield txn_id, "no adjustment request behind it"
    threshold = settings.ADJUSTMENT_APPROVAL_THRESHOLD
    rows = (
        txns.filter(adjustment__isnull=False)
        .annotate(standard=entry_total([K.STANDARD]))
        .values_list(
            "id",
            "standard",
            "adjustment__points",
            "adjustment__status",
            "adjustment__requested_by_id",
            "adjustment__decided_by_id",
            "member_id",
            "adjustment__member_id",
        )
    )
    for txn_id, posted, points, status, requested_by, decided_by, member, adj_member in rows:
        if status != AdjustmentRequest.Status.APPLIED:
            yield txn_id, f"its adjustment request is {status}, not applied"
        if posted != points or member != adj_member:
            yield txn_id, f"posts {posted} points but its adjustment request says {points}"
        if abs(points) > threshold and (decided_by is None or decided_by == requested_by):
            yield txn_id, f"{points} points exceed {threshold} but lack a second approver"


def _bonus_document(txns: QuerySet) -> Iterator[tuple[int, str]]:
    cap = settings.POINTS_SIGNUP_BONUS_CAP
    for txn_id in txns.exclude(breakdown__has_key="bonus").values_list("id", flat=True):
        yield txn_id, "names no bonus rule in its breakdown"
    over = (
        LedgerEntry.objects.filter(transaction__in=txns, account__kind=K.STANDARD)
        .values("account__code")
        .annotate(total=Sum("points"))
        .filter(total__gt=cap)
    )
    for row in over:
        last = txns.filter(entries__account__code=row["account__code"]).order_by("-id").first()
        yield last.pk, f"bonuses to {row['account__code']} total {row['total']} > cap {cap}"


def _expire_document(txns: QuerySet) -> Iterator[tuple[int, str]]:
    early = (
        LotAllocation.objects.filter(transaction__in=txns)
        .filter(
            Q(lot__expires_at__isnull=True) | Q(lot__expires_at__gt=F("transaction__created_at"))
        )
        .values_list("transaction_id", "lot_id")
    )
    for txn_id, lot_id in early:
        yield txn_id, f"expires lot {lot_id}, which was not due at that moment"
    allocated = Coalesce(
        Subquery(
            LotAllocation.objects.filter(transaction=OuterRef("pk"))
            .values("transaction")
            .annotate(total=Sum("points"))
            .values("total")
        ),
        Value(0),
    )
    mismatched = (
        txns.annotate(member_points=entry_total(Account.MEMBER_KINDS), allocated=allocated)
        .exclude(member_points=-F("allocated"))
        .values_list("id", "member_points", "allocated")
    )
    for txn_id, member, consumed in mismatched:
        yield txn_id, f"takes {-member} points but its due lots gave {consumed}"


EARN_ACCOUNTS = frozenset({K.STANDARD, K.GREEN, K.ISSUANCE, K.GREEN_ISSUANCE})

KIND_RULES: dict[str, KindRule] = {
    "earn": KindRule(EARN_ACCOUNTS, _earn_document, document_name="purchase"),
    "green_earn": KindRule(EARN_ACCOUNTS, _earn_document, document_name="purchase"),
    "refund": KindRule(EARN_ACCOUNTS, _refund_document, document_name="refund"),
    "bonus": KindRule(
        frozenset({K.STANDARD, K.ISSUANCE}), _bonus_document, document_name="bonus rule and cap"
    ),
    "adjust": KindRule(
        frozenset({K.STANDARD, K.ADJUSTMENT}), _adjust_document, document_name="approved request"
    ),
    "expire": KindRule(
        frozenset({K.STANDARD, K.GREEN, K.EXPIRY}), _expire_document, document_name="due lots"
    ),
    # redeem, redeem_cancel and compensation: registered by the redemption app.
}


def kind_rule_register(kind: str, rule: KindRule) -> None:
    """Add (or replace) the rule of `kind`; call it from an AppConfig.ready()."""
    KIND_RULES[kind] = rule


def reconciliation_findings() -> Iterator[tuple[str, int, str]]:
    """(finding code, transaction id, message) for every transaction that fails its rule."""
    known = set(KIND_RULES)
    for txn_id, kind in (
        LedgerTransaction.objects.exclude(kind__in=known).values_list("id", "kind").iterator()
    ):
        yield "unknown_kind", txn_id, f"kind {kind!r} has no reconciliation rule"
    for kind, rule in KIND_RULES.items():
        txns = LedgerTransaction.objects.filter(kind=kind)
        outside = (
            LedgerEntry.objects.filter(transaction__kind=kind)
            .exclude(account__kind__in=list(rule.accounts))
            .values_list("transaction_id", "account__code")
            .order_by("transaction_id")
        )
        for txn_id, code in outside:
            yield "account_not_allowed", txn_id, f"{kind} may not post to account {code}"
        foreign = (
            LedgerEntry.objects.filter(
                transaction__kind=kind, account__kind__in=Account.MEMBER_KINDS
            )
            .filter(
                Q(transaction__member_id__isnull=True)
                | ~Q(account__member_id=F("transaction__member_id"))
            )
            .values_list("transaction_id", "account__code")
        )
        for txn_id, code in foreign:
            yield (
                "account_not_allowed",
                txn_id,
                f"member account {code} is not the transaction's member's",
            )
        if rule.needs_member_account:
            lonely = txns.exclude(entries__account__kind__in=Account.MEMBER_KINDS).values_list(
                "id", flat=True
            )
            for txn_id in lonely:
                yield (
                    "no_member_account",
                    txn_id,
                    f"{kind} moves points between system accounts only",
                )
        if rule.document is not None:
            for txn_id, message in rule.document(txns):
                yield "document_mismatch", txn_id, f"{kind}: {message}"
