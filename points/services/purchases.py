"""Earning on purchases and taking points back on refunds."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from merchants.models import Merchant, Store, Terminal
from points.models import (
    Account,
    LedgerTransaction,
    Member,
    Notification,
    Purchase,
    PurchaseLine,
    Refund,
)
from points.rules import CampaignRule, LineInput, earn_for_purchase, share_of
from points.services.accounts import issuance_account, system_account
from points.services.bonuses import FIRST_PURCHASE, bonus_grant
from points.services.catalog import merchant_catalog
from points.services.ledger import InsufficientPoints, Overdraft, Posting, ledger_post
from points.services.notifications import notification_send


class EarnError(Exception):
    """A purchase or refund that cannot be recorded; nothing has been written."""

    code = "invalid"
    status = 400
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field or self.field


class UnknownProduct(EarnError):
    code = "unknown_sku"


class UnknownCategory(EarnError):
    code = "unknown_category"


class UnknownStore(EarnError):
    code = "unknown_store"
    field = "store"


class ReceiptAlreadyRecorded(EarnError):
    code = "duplicate_receipt"
    status = 409
    field = "receipt_no"


class PurchaseNotFound(EarnError):
    code = "receipt_not_found"
    status = 404
    field = "receipt_no"


class RefundExceedsPurchase(EarnError):
    code = "refund_exceeds_purchase"
    status = 422


@dataclass(frozen=True)
class LineRequest:
    line_no: int
    quantity: int
    amount_fen: int
    sku: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class RefundLineRequest:
    line_no: int
    quantity: int


def campaign_rules(merchant: Merchant, on: date | None = None) -> list[CampaignRule]:
    """The merchant's active campaigns as rules (from the per-process catalog): those
    running `on` a day, or all of them (the rules engine checks each one's dates anyway)."""
    catalog = merchant_catalog(merchant)
    return list(catalog.campaigns) if on is None else catalog.campaigns_on(on)


def _resolve_lines(merchant: Merchant, lines: Sequence[LineRequest]):
    catalog = merchant_catalog(merchant)
    products, categories = catalog.products, catalog.categories
    resolved = []
    for index, line in enumerate(lines):
        if line.sku:
            product = products.get(line.sku)
            if product is None:
                raise UnknownProduct(
                    f"Unknown SKU {line.sku!r} at this merchant.", field=f"lines[{index}].sku"
                )
            resolved.append((line, product, product.category))
        else:
            category = categories.get(line.category)
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
    columns = ", ".join(f"account.{connection.ops.quote_name(f.column)}" for f in fields)
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
) -> Purchase:
    """Record a purchase and credit its points (and green points) to the member.

    The receipt number is unique per merchant: recording the same receipt again returns the
    original purchase with `replayed = True`. Joins the caller's transaction.
    """
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
                idempotency_key=f"purchase:{merchant.pk}:{receipt_no}",
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
        purchase = Purchase(
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
            transaction=txn,
            source=source,
        )
        by_line = {item.line_no: item for item in earned.lines}
        _save_purchase(
            purchase,
            [
                PurchaseLine(
                    purchase=purchase,
                    line_no=line.line_no,
                    product=product,
                    category=category,
                    quantity=line.quantity,
                    amount_fen=line.amount_fen,
                    points=by_line[line.line_no].points,
                    green_points=by_line[line.line_no].green_points,
                    carbon_saved_g=by_line[line.line_no].carbon_saved_g,
                )
                for line, product, category in resolved
            ],
            active_at=timezone.now(),
        )
        if not has_bought:
            bonus = bonus_grant(member=member, kind=FIRST_PURCHASE, actor=actor)
            # A concurrent first purchase may have granted it: then it is not this one's.
            purchase.bonus = bonus if bonus is not None and not bonus.replayed else None
        if txn is not None:
            _notify_points_earned(member, merchant, earned.points, earned.green_points)
    purchase.replayed = False
    return purchase


@functools.cache
def _save_purchase_statement() -> tuple[str, list, list]:
    """The SQL of `_save_purchase` and the fields it writes, built once per process."""
    quote = connection.ops.quote_name
    purchase_fields = [f for f in Purchase._meta.concrete_fields if not f.primary_key]
    line_fields = [
        f for f in PurchaseLine._meta.concrete_fields if not f.primary_key and f.name != "purchase"
    ]
    purchase_columns = ", ".join(quote(f.column) for f in purchase_fields)
    placeholders = ", ".join(["%s"] * len(purchase_fields))
    line_columns = ", ".join(quote(f.column) for f in line_fields)
    line_values = ", ".join(f"line.{quote(f.column)}" for f in line_fields)
    line_arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in line_fields)
    sql = f"""
        WITH purchase AS (
            INSERT INTO points_purchase ({purchase_columns}) VALUES ({placeholders})
            RETURNING id
        ),
        lines AS (
            INSERT INTO points_purchaseline (purchase_id, {line_columns})
            SELECT purchase.id, {line_values}
            FROM purchase, unnest({line_arrays}) WITH ORDINALITY AS line({line_columns}, n)
            ORDER BY line.n
        ),
        touched AS (
            UPDATE points_member SET last_activity_at = %s WHERE id = %s
        )
        SELECT id FROM purchase
    """
    return sql, purchase_fields, line_fields


def _save_purchase(purchase: Purchase, lines: list[PurchaseLine], *, active_at) -> None:
    """Insert the purchase and its lines and mark the member active.

    One statement on PostgreSQL (a data-modifying CTE): round trips are what limit the earn
    rate. Elsewhere, the three ORM calls it stands for.
    """
    if connection.vendor != "postgresql":
        purchase.save(force_insert=True)
        PurchaseLine.objects.bulk_create(lines)
        Member.objects.filter(pk=purchase.member_id).update(last_activity_at=active_at)
        return
    sql, purchase_fields, line_fields = _save_purchase_statement()
    params = [
        *(f.get_db_prep_save(f.pre_save(purchase, add=True), connection) for f in purchase_fields),
        # Line columns are integers and foreign keys: their values need no preparing.
        *([getattr(line, f.attname) for line in lines] for f in line_fields),
        active_at,
        purchase.member_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        purchase.pk = cursor.fetchone()[0]
    purchase._state.adding = False
    purchase._state.db = connection.alias


def _notify_points_earned(member: Member, merchant: Merchant, points: int, green: int) -> None:
    """Tell the member "积分到账": an inbox row now, its email queued on commit."""
    earned = "、".join(
        part
        for part in (f"{points} 积分" if points else "", f"{green} 绿色积分" if green else "")
        if part
    )
    notification_send(
        member=member,
        kind=Notification.Kind.POINTS,
        title=f"积分到账：{earned}",
        body=f"您在{merchant.name}的消费获得了 {earned}。",
        link=reverse("dashboard"),
    )


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
    refund.replayed = False
    return refund


def _reverse_earn(*, purchase, refund_no, points, green_points, policy, actor, lines):
    accounts = _member_accounts(purchase.member)
    wanted = {Account.Kind.STANDARD: points, Account.Kind.GREEN: green_points}
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
