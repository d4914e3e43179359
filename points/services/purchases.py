"""Earning on purchases and taking points back on refunds."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Field
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from merchants.models import Category, Merchant, Product, Store, Terminal
from points.models import (
    Account,
    LedgerTransaction,
    Member,
    Notification,
    Purchase,
    PurchaseLine,
    Refund,
)
from points.rules import CampaignRule, EarnResult, LineInput, earn_for_purchase, share_of
from points.services.accounts import (
    issuance_account,
    member_account_code,
    system_account,
)
from points.services.bonuses import (
    FIRST_PURCHASE,
    bonus_grant,
    bonus_reverse_if_unqualified,
    first_purchase_qualifies,
)
from points.services.catalog import merchant_catalog
from points.services.errors import EarnError, InvalidPurchase  # noqa: F401 - re-exported
from points.services.ledger import (
    InsufficientPoints,
    Overdraft,
    Posting,
    ledger_credit_at_once,
    ledger_post,
)
from points.services.notifications import (
    Joined,
    Message,
    member_notify,
    notification_attached,
    notification_attached_sent,
    notification_send,
)
from points.services.purchase_validation import (
    LineRequest,
    purchase_check,
    purchase_idempotency_key,
    receipt_no_check,
)
from points.statements import (
    AttachedWrite,
    attached_writes_run,
    compact,
    from_json_row,
    from_json_rows,
    insert_fields,
    json_row,
    new_row,
    quote,
    saved_as,
    to_json,
    unsaved,
)


class UnknownProduct(EarnError):
    code = "unknown_sku"


class UnknownCategory(EarnError):
    code = "unknown_category"


class UnknownStore(EarnError):
    code = "unknown_store"
    field = "store"


class ReceiptAlreadyRecorded(EarnError):
    code = "duplicate_receipt"
    field = "receipt_no"


class PurchaseNotFound(EarnError):
    code = "receipt_not_found"
    field = "receipt_no"


class RefundExceedsPurchase(EarnError):
    code = "refund_exceeds_purchase"


@dataclass(frozen=True)
class RefundLineRequest:
    line_no: int
    quantity: int


def campaign_rules(merchant: Merchant, on: date | None = None) -> list[CampaignRule]:
    """The merchant's active campaigns as rules (from the per-process catalog): those
    running `on` a day, or all of them (the rules engine checks each one's dates anyway)."""
    catalog = merchant_catalog(merchant)
    return list(catalog.campaigns) if on is None else catalog.campaigns_on(on)


def _resolve_lines(
    merchant: Merchant, lines: Sequence[LineRequest]
) -> list[tuple[LineRequest, Product | None, Category]]:
    catalog = merchant_catalog(merchant)
    products, categories = catalog.products, catalog.categories
    resolved: list[tuple[LineRequest, Product | None, Category]] = []
    for index, line in enumerate(lines):
        if line.sku:
            product = products.get(line.sku)
            if product is None:
                raise UnknownProduct(
                    f"Unknown SKU {line.sku!r} at this merchant.", field=f"lines[{index}].sku"
                )
            resolved.append((line, product, product.category))
        else:
            category = categories.get(line.category or "")
            if category is None:
                raise UnknownCategory(
                    f"Unknown category {line.category!r} at this merchant.",
                    field=f"lines[{index}].category",
                )
            resolved.append((line, None, category))
    return resolved


def _member_accounts_and_history(
    merchant: Merchant, member: Member, receipt_no: str
) -> tuple[dict[str, Account], int | None, bool]:
    """The member's accounts by kind; the id of this receipt's purchase if it is already
    recorded; whether the member has bought anything before. One round trip, in SQL: the
    ORM's compiling of three querysets cost more than the database's answering them."""
    fields = Account._meta.concrete_fields
    columns = ", ".join(f"account.{quote(f.column)}" for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT {columns},
                   (SELECT id FROM points_purchase
                     WHERE merchant_id = %s AND receipt_no = %s) AS recorded_id,
                   EXISTS (SELECT 1 FROM points_purchase WHERE member_id = %s) AS has_bought
            FROM points_account account
            WHERE account.member_id = %s
            """,
            [merchant.pk, receipt_no, member.pk, member.pk],
        )
        rows = cursor.fetchall()
    names = [f.attname for f in fields]
    accounts = {}
    for row in rows:
        account = Account.from_db(connection.alias, names, row[: len(names)])
        accounts[account.kind] = account
    recorded_id, has_bought = rows[0][len(names) :] if rows else (None, False)
    return accounts, recorded_id, bool(has_bought)


def _member_accounts(member: Member) -> dict[str, Account]:
    return {a.kind: a for a in Account.objects.filter(member=member)}


def earn_postings(
    merchant: Merchant, accounts: dict[str, Account], points: int, green_points: int, sign: int = 1
) -> list[Posting]:
    """Member +points / issuer -points (and the same for green points); sign -1 reverses."""
    postings = []
    if points:
        postings += [
            Posting(accounts[Account.Kind.STANDARD], sign * points),
            Posting(issuance_account(merchant), -sign * points),
        ]
    if green_points:
        postings += [
            Posting(accounts[Account.Kind.GREEN], sign * green_points),
            Posting(system_account(Account.Kind.GREEN_ISSUANCE, merchant), -sign * green_points),
        ]
    return postings


@dataclass
class _Prepared:
    """A purchase checked and priced, not yet written."""

    purchase: Purchase
    lines: list[dict[str, Any]]
    earned: EarnResult


def _purchase_prepare(
    *,
    merchant: Merchant,
    member: Member,
    receipt_no: str,
    occurred_at: datetime,
    lines: Sequence[LineRequest],
    store: Store | None,
    terminal: Terminal | None,
    source: str,
) -> _Prepared:
    """Check the purchase (`InvalidPurchase` and the like, writing nothing) and compute its
    points with the merchant's rules of its day."""
    purchase_check(receipt_no=receipt_no, occurred_at=occurred_at, lines=lines)
    resolved = _resolve_lines(merchant, lines)
    on = timezone.localdate(occurred_at)
    earned = earn_for_purchase(
        lines=[
            LineInput(
                line_no=line.line_no,
                quantity=line.quantity,
                amount_fen=line.amount_fen,
                category_slug=category.slug,
                category_multiplier=category.multiplier,
                carbon_saved_g_per_unit=product.carbon_saved_g
                if product and product.is_green
                else 0,
            )
            for line, product, category in resolved
        ],
        points_per_yuan=merchant.points_per_yuan,
        campaigns=campaign_rules(merchant, on),
        on=on,
    )
    purchase = unsaved(
        Purchase,
        merchant=merchant,
        store=store or (terminal.store if terminal else None),
        terminal=terminal,
        member=member,
        receipt_no=receipt_no,
        occurred_at=occurred_at,
        total_fen=sum(line.amount_fen for line in lines),
        points=earned.points,
        green_points=earned.green_points,
        carbon_saved_g=earned.carbon_saved_g,
        source=source,
    )
    by_line = {item.line_no: item for item in earned.lines}
    # The lines' column values (by attribute name); rows are built from them where written.
    purchase_lines = [
        {
            "line_no": line.line_no,
            "product_id": product.pk if product else None,
            "category_id": category.pk,
            "quantity": line.quantity,
            "amount_fen": line.amount_fen,
            "points": by_line[line.line_no].points,
            "green_points": by_line[line.line_no].green_points,
            "carbon_saved_g": by_line[line.line_no].carbon_saved_g,
        }
        for line, product, category in resolved
    ]
    return _Prepared(purchase, purchase_lines, earned)


def purchase_record(
    *,
    merchant: Merchant,
    member: Member,
    receipt_no: str,
    occurred_at: datetime,
    lines: Sequence[LineRequest],
    store: Store | None = None,
    terminal: Terminal | None = None,
    actor: str = "system",
    source: str = Purchase.Source.API,
    try_at_once: bool = True,
) -> Purchase:
    """Record a purchase and credit its points (and green points) to the member.

    The receipt number is unique per merchant: recording the same receipt again returns the
    original purchase with `replayed = True`. Joins the caller's transaction. An invalid
    purchase (`purchase_validation.purchase_check`) raises `InvalidPurchase`, writing nothing.
    `try_at_once=False`: straight to the general path, for a caller whose
    `purchase_record_at_once` just wrote nothing (the same statement would not either).
    """
    prepared = _purchase_prepare(
        merchant=merchant,
        member=member,
        receipt_no=receipt_no,
        occurred_at=occurred_at,
        lines=lines,
        store=store,
        terminal=terminal,
        source=source,
    )
    purchase, purchase_lines, earned = prepared.purchase, prepared.lines, prepared.earned
    if try_at_once and _record_at_once(prepared, actor=actor):
        return purchase
    with transaction.atomic(savepoint=False):
        accounts, recorded_id, has_bought = _member_accounts_and_history(
            merchant, member, receipt_no
        )
        if recorded_id is not None:
            existing = Purchase.objects.get(pk=recorded_id)
            existing.replayed = True
            return existing
        txn = None
        postings = earn_postings(merchant, accounts, earned.points, earned.green_points)
        if postings:
            txn = ledger_post(
                kind=LedgerTransaction.Kind.EARN,
                idempotency_key=purchase_idempotency_key(merchant.pk, receipt_no),
                postings=postings,
                merchant=merchant,
                member=member,
                reference=receipt_no,
                reason="purchase",
                actor=actor,
                breakdown=earned.breakdown(),
            )
            if txn.replayed:  # a concurrent request recorded this receipt first
                raise ReceiptAlreadyRecorded("This receipt has already been recorded.")
        purchase.transaction = txn
        _save_purchase(purchase, purchase_lines, active_at=timezone.now())
        if not has_bought and first_purchase_qualifies(purchase.total_fen):
            bonus = bonus_grant(member=member, kind=FIRST_PURCHASE, actor=actor, purchase=purchase)
            # A concurrent first purchase may have granted it: then it is not this one's.
            purchase.bonus = bonus if bonus is not None and not bonus.replayed else None
        if txn is not None:
            _notify_points_earned(member, merchant, earned.points, earned.green_points)
    purchase.replayed = False
    return purchase


def purchase_record_at_once(
    *,
    merchant: Merchant,
    member: Member,
    receipt_no: str,
    occurred_at: datetime,
    lines: Sequence[LineRequest],
    store: Store | None = None,
    terminal: Terminal | None = None,
    actor: str = "system",
    source: str = Purchase.Source.API,
    attached: Callable[[Purchase, EarnResult], Sequence[AttachedWrite]] = lambda *_: (),
) -> Purchase | None:
    """`purchase_record` in one statement with the caller's attached writes, or nothing.

    For a caller whose own record must be written with the purchase (the POS API's stored
    answer): the common purchase (see below) and `attached` go to the database as one
    statement, outside any transaction, and the purchase is returned. In any other case
    nothing is written and None is returned: the caller then runs `purchase_record` and
    writes its record in one transaction. `attached(purchase, earned)` gives the writes,
    from the priced, unsaved purchase and its earn; they may read the CTEs `txn`, `purchase`
    and `balances` (id, code, balance, version of each credited account).
    An invalid purchase raises as in `purchase_record`.
    """
    prepared = _purchase_prepare(
        merchant=merchant,
        member=member,
        receipt_no=receipt_no,
        occurred_at=occurred_at,
        lines=lines,
        store=store,
        terminal=terminal,
        source=source,
    )
    writes = attached(prepared.purchase, prepared.earned)
    return prepared.purchase if _record_at_once(prepared, actor=actor, attached=writes) else None


# --- The common purchase in one statement ---------------------------------------------------
# A member who has bought before, a new receipt, points to credit to accounts that owe
# nothing: the posting, the purchase, its lines, the member's last activity and the inbox
# row "积分到账" are one statement (`ledger_credit_at_once` with attached writes), one round
# trip. Everything else (a first purchase and its bonus, a replay, a debt to repay, no points
# at all) takes the general path below it, which does the same in a transaction.

# Checked after the member's accounts are locked; if false, nothing is written.
_AT_ONCE_ONLY_IF = compact("""
    EXISTS (SELECT 1 FROM points_purchase WHERE member_id = %s::bigint)
    AND NOT EXISTS (SELECT 1 FROM points_purchase
                    WHERE merchant_id = %s::bigint AND receipt_no = %s::varchar)
    AND NOT EXISTS (SELECT 1 FROM points_account account JOIN credits
                    ON account.id = credits.account_id
                    WHERE account.member_id IS DISTINCT FROM %s::bigint)
""")


def _record_at_once(
    prepared: _Prepared,
    *,
    actor: str,
    attached: Sequence[AttachedWrite] = (),
) -> bool:
    """Record the purchase and its points in one statement if it is the common case (points
    to credit, see `_AT_ONCE_ONLY_IF`); True if done (the purchase is saved), False if
    nothing was written."""
    purchase, lines, earned = prepared.purchase, prepared.lines, prepared.earned
    if not (earned.points or earned.green_points):
        return False
    member, merchant = purchase.member, purchase.merchant
    accounts: dict[str, Account] = {  # named by codes: the statement finds them, no read first
        kind: unsaved(Account, code=member_account_code(member.pk, kind), kind=kind, member=member)
        for kind in Account.MEMBER_KINDS
    }
    notification, notify = _points_earned_notification(
        member, merchant, earned.points, earned.green_points
    )
    txn = ledger_credit_at_once(
        kind=LedgerTransaction.Kind.EARN,
        idempotency_key=purchase_idempotency_key(merchant.pk, purchase.receipt_no),
        postings=earn_postings(merchant, accounts, earned.points, earned.green_points),
        merchant=merchant,
        member=member,
        reference=purchase.receipt_no,
        reason="purchase",
        actor=actor,
        breakdown=earned.breakdown(),
        attached=[*_purchase_writes(purchase, lines, active_at=timezone.now()), notify, *attached],
        only_if=(
            _AT_ONCE_ONLY_IF,
            [member.pk, merchant.pk, purchase.receipt_no, member.pk],
        ),
    )
    if txn is None:
        return False
    purchase.transaction = txn
    saved_as(purchase, txn.attached["purchase"])
    notification_attached_sent(notification, txn.attached["notification"])
    # The posted accounts now carry their id and new balance; the others are not known.
    purchase.balances = {a.kind: a.balance for a in accounts.values() if a.pk is not None}
    purchase.bonus = None
    purchase.replayed = False
    return True


@functools.cache
def _purchase_statements() -> tuple[str, list[Field[Any, Any]], str]:
    """The SQL of the purchase's attached writes and the fields they write; once per process."""
    purchase_fields, columns = insert_fields(Purchase)
    values = ", ".join(
        "txn.id" if f.name == "transaction" else quote(f.column) for f in purchase_fields
    )
    purchase_sql = (
        f"INSERT INTO points_purchase ({columns}) "
        f"SELECT {values} FROM txn, {from_json_row(Purchase, 'bought')} RETURNING id"
    )
    line_fields, line_columns = insert_fields(PurchaseLine)
    line_values = ", ".join(
        "purchase.id" if f.name == "purchase" else quote(f.column) for f in line_fields
    )
    lines_sql = (
        f"INSERT INTO points_purchaseline ({line_columns}) "
        f"SELECT {line_values} FROM purchase, {from_json_rows(PurchaseLine, 'line')} "
        "ORDER BY line.ordinality"
    )
    return purchase_sql, purchase_fields, lines_sql


def _purchase_writes(
    purchase: Purchase, lines: list[dict[str, Any]], *, active_at: datetime
) -> list[AttachedWrite]:
    """The purchase, its lines and the member's last activity, as writes attached to the
    purchase's ledger transaction (`txn`; its id NULL when nothing was earned)."""
    purchase_sql, purchase_fields, lines_sql = _purchase_statements()
    return [
        AttachedWrite(
            name="purchase",
            sql=purchase_sql,
            params=[json_row(purchase, purchase_fields)],
            returns="(SELECT id FROM purchase)",
        ),
        AttachedWrite(
            name="purchase_lines",
            sql=lines_sql,
            params=[to_json([new_row(PurchaseLine, **line) for line in lines])],
        ),
        AttachedWrite(
            name="member_touched",
            sql="UPDATE points_member SET last_activity_at = %s::timestamptz FROM txn "
            "WHERE points_member.id = %s::bigint",
            params=[active_at, purchase.member_id],
        ),
    ]


def _save_purchase(purchase: Purchase, lines: list[dict[str, Any]], *, active_at: datetime) -> None:
    """Insert the purchase and its lines and mark the member active (after its posting),
    in one statement (the writes `_record_at_once` attaches to the posting)."""
    returned = attached_writes_run(
        _purchase_writes(purchase, lines, active_at=active_at), txn_id=purchase.transaction_id
    )
    saved_as(purchase, returned["purchase"])


def _points_earned_message(merchant: Merchant, points: int, green: int) -> dict[str, str]:
    """The "积分到账" notification: kind, title, body and link."""
    earned = "、".join(
        part
        for part in (f"{points} 积分" if points else "", f"{green} 绿色积分" if green else "")
        if part
    )
    return {
        "kind": Notification.Kind.POINTS,
        "title": f"积分到账：{earned}",
        "body": f"您在{merchant.name}的消费获得了 {earned}。",
        "link": _dashboard_link(get_script_prefix()),
    }


@functools.lru_cache(maxsize=8)
def _dashboard_link(script_prefix: str) -> str:
    return reverse("dashboard")  # the same for every purchase under one script prefix


def _notify_points_earned(member: Member, merchant: Merchant, points: int, green: int) -> None:
    """Tell the member "积分到账": an inbox row now, its email queued on commit."""
    notification_send(member=member, **_points_earned_message(merchant, points, green))


def _points_earned_notification(
    member: Member, merchant: Merchant, points: int, green: int
) -> tuple[Notification, AttachedWrite]:
    """`_notify_points_earned` as a write attached to the purchase's posting."""
    return notification_attached(member=member, **_points_earned_message(merchant, points, green))


def refund_policy() -> Refund.Policy:
    return Refund.Policy(getattr(settings, "REFUND_POLICY", Refund.Policy.ALLOW_NEGATIVE))


def purchase_refund(
    *,
    merchant: Merchant,
    receipt_no: str,
    refund_no: str,
    lines: Sequence[RefundLineRequest],
    actor: str = "system",
    policy: Refund.Policy | None = None,
) -> Refund:
    """Take back exactly the points (and green points) of the refunded units.

    Partial and repeated refunds add up to what the line earned (`share_of`). Under
    `allow_negative` the member's balance may go negative (a debt repaid by later earnings;
    redemption is blocked meanwhile); under `cap_at_balance` only what is left is taken. The
    policy is recorded on the ledger transaction. A repeated refund_no returns the original.
    """
    policy = Refund.Policy(policy or refund_policy())
    receipt_no_check(receipt_no)
    receipt_no_check(refund_no, field="refund_no")
    with transaction.atomic(savepoint=False):
        purchase = (
            Purchase.objects.select_for_update(of=("self",))
            .select_related("member", "transaction")
            .filter(merchant=merchant, receipt_no=receipt_no)
            .first()
        )
        if purchase is None:
            raise PurchaseNotFound("No purchase with this receipt number at this merchant.")
        existing = Refund.objects.filter(purchase=purchase, refund_no=refund_no).first()
        if existing is not None:
            existing.replayed = True
            return existing
        bought = {line.line_no: line for line in purchase.lines.all()}
        points = green_points = 0
        refunded_lines = []
        seen = set()
        for index, request in enumerate(lines):
            line = bought.get(request.line_no)
            if line is None or request.line_no in seen:
                raise RefundExceedsPurchase(
                    f"Line {request.line_no} is not on this receipt (or is named twice).",
                    field=f"lines[{index}].line_no",
                )
            seen.add(request.line_no)
            if line.refunded_quantity + request.quantity > line.quantity:
                raise RefundExceedsPurchase(
                    f"Line {line.line_no}: {line.quantity} bought, {line.refunded_quantity} "
                    f"already refunded; {request.quantity} more is too many.",
                    field=f"lines[{index}].quantity",
                )
            line_points = share_of(
                line.points, line.quantity, line.refunded_quantity, request.quantity
            )
            line_green = share_of(
                line.green_points, line.quantity, line.refunded_quantity, request.quantity
            )
            points += line_points
            green_points += line_green
            refunded_lines.append(
                {
                    "line_no": line.line_no,
                    "quantity": request.quantity,
                    "points": line_points,
                    "green_points": line_green,
                }
            )
        txn, taken, green_taken = _reverse_earn(
            purchase=purchase,
            refund_no=refund_no,
            points=points,
            green_points=green_points,
            policy=policy,
            actor=actor,
            lines=refunded_lines,
        )
        for item in refunded_lines:
            PurchaseLine.objects.filter(purchase=purchase, line_no=item["line_no"]).update(
                refunded_quantity=F("refunded_quantity") + item["quantity"]
            )
        bonus_reversal = bonus_reverse_if_unqualified(
            purchase=purchase,
            overdraft=Overdraft.ALLOW
            if policy == Refund.Policy.ALLOW_NEGATIVE
            else Overdraft.REFUSE,
            actor=actor,
        )
        refund = Refund.objects.create(
            purchase=purchase,
            refund_no=refund_no,
            lines=refunded_lines,
            points=taken,
            green_points=green_taken,
            points_due=points,
            policy=policy,
            transaction=txn,
        )
        Member.objects.filter(pk=purchase.member_id).update(last_activity_at=timezone.now())
        if taken or green_taken:
            _notify_refund(purchase, refund)
    refund.replayed = False
    refund.bonus_reversal = bonus_reversal
    return refund


REFUND_TITLE = gettext_lazy("Refund at %(merchant)s: %(points)s taken back")
REFUND_BODY = gettext_lazy(
    "Your purchase %(receipt_no)s at %(merchant)s was refunded (%(refund_no)s), so the "
    "points it earned were taken back: %(points)s."
)
POINTS_AMOUNT = gettext_lazy("%(points)s points")
GREEN_POINTS_AMOUNT = gettext_lazy("%(points)s green points")


def _notify_refund(purchase: Purchase, refund: Refund) -> None:
    """Tell the member their points went down because a purchase was refunded."""
    taken = Joined(
        Message(POINTS_AMOUNT, points=refund.points) if refund.points else None,
        Message(GREEN_POINTS_AMOUNT, points=refund.green_points) if refund.green_points else None,
    )
    member_notify(
        member=purchase.member,
        kind=Notification.Kind.REFUND,
        title=REFUND_TITLE,
        body=REFUND_BODY,
        params={
            "merchant": purchase.merchant.name,
            "points": taken,
            "receipt_no": purchase.receipt_no,
            "refund_no": refund.refund_no,
        },
        link=reverse("history"),
        dedupe_key=f"refund:{refund.pk}",
    )


def _reverse_earn(
    *,
    purchase: Purchase,
    refund_no: str,
    points: int,
    green_points: int,
    policy: Refund.Policy,
    actor: str,
    lines: list[dict[str, Any]],
) -> tuple[LedgerTransaction | None, int, int]:
    accounts = _member_accounts(purchase.member)
    wanted: dict[str, int] = {Account.Kind.STANDARD: points, Account.Kind.GREEN: green_points}
    overdraft = Overdraft.ALLOW if policy == Refund.Policy.ALLOW_NEGATIVE else Overdraft.REFUSE
    for _attempt in range(3):
        postings = earn_postings(
            purchase.merchant,
            accounts,
            wanted[Account.Kind.STANDARD],
            wanted[Account.Kind.GREEN],
            sign=-1,
        )
        if not postings:
            return None, 0, 0
        try:
            txn = ledger_post(
                kind=LedgerTransaction.Kind.REFUND,
                idempotency_key=f"refund:{purchase.pk}:{refund_no}",
                postings=postings,
                merchant=purchase.merchant,
                member=purchase.member,
                reference=f"{purchase.receipt_no}/{refund_no}",
                reason="refund",
                actor=actor,
                reverses=purchase.transaction,
                overdraft=overdraft,
                breakdown={
                    "policy": policy.value,
                    "points_due": points,
                    "green_points_due": green_points,
                    "points": wanted[Account.Kind.STANDARD],
                    "green_points": wanted[Account.Kind.GREEN],
                    "lines": lines,
                },
            )
            return txn, wanted[Account.Kind.STANDARD], wanted[Account.Kind.GREEN]
        except InsufficientPoints as short:
            # cap_at_balance: take only what the member still has on that account.
            wanted[short.account.kind] = short.available
    raise AssertionError("unreachable: each retry caps one more account")  # pragma: no cover
