"""The one write path of the points ledger.

Every change to a balance goes through `ledger_post`. It:

* refuses a posting whose entries do not sum to zero;
* answers a repeated `idempotency_key` with the original transaction (the unique index,
  through INSERT ... ON CONFLICT DO NOTHING, decides; nothing else is written);
* locks the member accounts it touches with SELECT ... FOR UPDATE in primary-key order
  (system accounts are never locked: they are hot, and their balance is a sum of entries);
* credits member accounts by creating a lot (or, for a reversal, by giving back the exact
  lots the reversed debit consumed) and debits them by consuming lots soonest-expiring first,
  recording every use as a LotAllocation;
* keeps each member account's cached balance and version in the same transaction.

Round trips are what limit throughput, so the work is a handful of set-based statements per
posting rather than one per row.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from merchants.models import Merchant
from points.models import (
    Account,
    LedgerEntry,
    LedgerTransaction,
    LotAllocation,
    Member,
    PointLot,
)
from points.months import add_months  # noqa: F401  (re-exported: callers import it from here)
from points.statements import (
    AttachedWrite,
    attached_ctes,
    compact,
    from_json_row,
    hot_cursor,
    insert_fields,
    insert_values,
    json_row,
    quote,
    saved_as,
    to_json,
    unsaved,
)

# Sentinel: "compute the expiry from POINTS_EXPIRY_MONTHS".
DEFAULT_EXPIRY = object()


class LedgerError(Exception):
    """Base class of ledger refusals; nothing has been written when one is raised."""

    code = "ledger_error"


class UnbalancedTransaction(LedgerError):
    code = "unbalanced"


class InvalidPosting(LedgerError):
    code = "invalid_posting"


class InsufficientPoints(LedgerError):
    code = "insufficient_points"

    def __init__(self, account: Account, requested: int, available: int):
        self.account = account
        self.requested = requested
        self.available = available
        super().__init__(
            f"Account {account.code} has {available} spendable points; {requested} requested."
        )


class Overdraft(enum.StrEnum):
    """What a debit does when the account's lots cannot cover it."""

    REFUSE = "refuse"  # raise InsufficientPoints, write nothing (spending)
    ALLOW = "allow"  # take what the lots hold; the balance goes negative (a debt)


@dataclass(frozen=True)
class Posting:
    account: Account
    points: int


@dataclass
class _LotChange:
    """What one posting does to one lot, accumulated before anything is written."""

    lot: PointLot
    allocated: int = 0  # net allocation by this transaction (+ consumed, - released)


@dataclass
class _AccountPlan:
    account: Account
    delta: int
    changes: dict[int, _LotChange] = field(default_factory=dict)
    new_lot: PointLot | None = None
    new_lot_debt_repaid: int = 0
    shortfall: int = 0


def default_expiry(account: Account, credited_at: datetime) -> datetime | None:
    """Standard points expire after POINTS_EXPIRY_MONTHS (unset = never); green never do."""
    months = settings.POINTS_EXPIRY_MONTHS
    if account.kind != Account.Kind.STANDARD or not months:
        return None
    return add_months(credited_at, months)


def ledger_post(
    *,
    kind: str,
    idempotency_key: str,
    postings: Sequence[Posting],
    merchant: Merchant | None = None,
    member: Member | None = None,
    reference: str = "",
    reason: str = "",
    actor: str = "system",
    breakdown: dict[str, Any] | None = None,
    reverses: LedgerTransaction | None = None,
    overdraft: Overdraft = Overdraft.REFUSE,
    expires_at: Any = DEFAULT_EXPIRY,
    created_at: datetime | None = None,
    expired_lots_only: bool = False,
    now: datetime | None = None,
) -> LedgerTransaction:
    """Post one balanced transaction and return it.

    A repeated `idempotency_key` returns the original transaction with `replayed = True`
    and writes nothing. Joins the caller's transaction when there is one.
    """
    _validate(kind=kind, idempotency_key=idempotency_key, postings=postings)
    now = now or timezone.now()
    created_at = created_at or now
    refusal = None
    with transaction.atomic(savepoint=False):
        txn = _new_transaction(
            kind=kind,
            idempotency_key=idempotency_key,
            merchant=merchant,
            member=member,
            reference=reference,
            reason=reason,
            actor=actor,
            breakdown=breakdown,
            reverses=reverses,
            created_at=created_at,
        )
        member_postings = sorted(
            (p for p in postings if p.account.is_member_account), key=lambda p: p.account.pk
        )
        if reverses is None and all(p.points > 0 for p in member_postings):
            posted = _post_credits_in_one_statement(
                txn, postings, member_postings, expires_at=expires_at, credited_at=created_at
            )
            if posted is _REPLAYED:
                return _replayed(idempotency_key)
            if posted is _POSTED:
                return txn
            # _IN_DEBT: the general path below, in the same transaction.
        locked = _lock_member_accounts([p.account.pk for p in member_postings])
        try:
            plans = [
                _plan(
                    _AccountPlan(account=locked[p.account.pk], delta=p.points),
                    txn=txn,
                    reverses=reverses,
                    overdraft=overdraft,
                    expires_at=expires_at,
                    credited_at=created_at,
                    now=now,
                    expired_lots_only=expired_lots_only,
                )
                for p in member_postings
            ]
        except InsufficientPoints as error:
            # A replay of a debit that has since drained the account is still a replay.
            original = _original(idempotency_key)
            if original is not None:
                return original
            refusal = error
        if refusal is None:
            shortfalls = {p.account.code: p.shortfall for p in plans if p.shortfall}
            if shortfalls:
                # Kept on the transaction itself, so an auditor sees the debt it created.
                txn.breakdown["overdraft"] = shortfalls
            if not _insert_unless_duplicate(txn):
                return _replayed(idempotency_key)
            txn.replayed = False
            _write(txn, postings, plans)
            _refresh_accounts_in_memory(postings, locked)
    if refusal is not None:
        # Raised after the atomic block ends normally: nothing was written, and a caller's
        # enclosing transaction stays usable (it may, say, fall back to a smaller amount).
        raise refusal
    return txn


# --- The common case in one round trip ---------------------------------------------------
# Most postings only credit member accounts that owe nothing (every purchase does). For them
# the general path's work (lock, insert the transaction, its entries, one lot per credited
# account, the balances) is one statement: a data-modifying CTE, so one round trip instead of
# five. It writes exactly the rows the general path would, and nothing at all when the
# idempotency key exists (a replay) or a credited account is in debt: repaying a debt
# consumes the new lot, which only the general path does, so that case falls back to it.

_POSTED, _REPLAYED, _IN_DEBT = "posted", "replayed", "in_debt"

_POST_CREDITS_SQL = """
WITH credits AS MATERIALIZED (
    -- Credited accounts are named by code (the one-statement earn knows no ids).
    -- LATERAL ... LIMIT 1: one index probe per credit. As a plain join, the planner's
    -- guess of 100 rows for a function scan made it scan the whole table.
    SELECT account.id AS account_id, c.code, c.points, c.expires_at, c.n
    FROM jsonb_to_recordset(%s::jsonb)
         AS c(code varchar, points bigint, expires_at timestamptz, n integer)
    CROSS JOIN LATERAL (SELECT id FROM points_account WHERE code = c.code LIMIT 1) account
),
locked AS MATERIALIZED (
    SELECT id, balance FROM points_account
    WHERE id = ANY(ARRAY(SELECT account_id FROM credits)) ORDER BY id FOR UPDATE
),
clear AS MATERIALIZED (
    SELECT count(*) = %s::integer AND coalesce(bool_and(balance >= 0), true){condition} AS ok
    FROM locked
),
txn AS (
    INSERT INTO points_ledgertransaction ({columns})
    SELECT {columns} FROM clear, {row} WHERE clear.ok
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
),
entries AS (
    -- An entry names its account by id, or (a credited account) by code.
    INSERT INTO points_ledgerentry (transaction_id, account_id, points)
    SELECT txn.id, coalesce(e.account_id, c.account_id), e.points
    FROM txn, jsonb_to_recordset(%s::jsonb)
         AS e(account_id bigint, code varchar, points bigint, n integer)
         LEFT JOIN credits c ON e.account_id IS NULL AND c.code = e.code
    ORDER BY e.n
),
lots AS (
    INSERT INTO points_pointlot
        (account_id, transaction_id, points, remaining, expires_at, created_at)
    SELECT c.account_id, txn.id, c.points, c.points, c.expires_at, %s::timestamptz
    FROM txn, credits c
    ORDER BY c.n
),
balances AS (
    -- The rows are locked above; SET ... + applies to their newest committed version.
    UPDATE points_account account
    SET balance = account.balance + c.points, version = account.version + 1
    FROM txn, credits c
    WHERE account.id = c.account_id AND account.id = ANY(ARRAY(SELECT account_id FROM credits))
    RETURNING account.id, account.code, account.balance, account.version
){attached}
SELECT (SELECT ok FROM clear),
       (SELECT id FROM txn),
       (SELECT coalesce(json_agg(json_build_array(id, code, balance, version)), '[]')
        FROM balances)
       {returns}
"""


@functools.cache
def _post_credits_statement(
    ctes: str = "", returns: str = "", condition: str = ""
) -> tuple[str, Any]:
    """`_POST_CREDITS_SQL` with attached writes (as CTEs and returned expressions) and an
    extra condition, on one line; and the transaction's fields. Built once per shape and
    process. The condition may read `credits` (account_id, points) and `locked`."""
    fields, columns = insert_fields(LedgerTransaction)
    sql = _POST_CREDITS_SQL.format(
        columns=columns,
        row=from_json_row(LedgerTransaction, "new_txn"),
        condition=f" AND ({condition})" if condition else "",
        attached=ctes,
        returns=returns,
    )
    return compact(sql), fields


def _post_credits_in_one_statement(
    txn: LedgerTransaction,
    postings: Sequence[Posting],
    member_postings: list[Posting],
    *,
    expires_at: Any,
    credited_at: datetime,
    attached: Sequence[AttachedWrite] = (),
    only_if: tuple[str, Sequence[Any]] | None = None,
) -> str:
    """Post a transaction whose member postings are all credits, in one statement.

    Returns _POSTED (txn saved, the posted Account objects refreshed), _REPLAYED (the key
    exists; nothing written) or _IN_DEBT (a credited account has a negative balance, the
    `only_if` SQL condition is false; nothing written, the locks kept: use the general path).
    """
    condition, condition_params = only_if or ("", ())
    ctes, returns, attached_params = attached_ctes(attached)
    sql, fields = _post_credits_statement(ctes, returns, condition)
    # Credits and entries travel as JSON arrays of records: one parameter each to adapt.
    credits = [
        {
            "code": p.account.code,
            "points": p.points,
            "expires_at": default_expiry(p.account, credited_at)
            if expires_at is DEFAULT_EXPIRY
            else expires_at,
            "n": n,
        }
        for n, p in enumerate(member_postings)
    ]
    entries = [
        {"account_id": p.account.pk, "code": p.account.code, "points": p.points, "n": n}
        for n, p in enumerate(postings)
    ]
    params = [
        to_json(credits),
        len(member_postings),
        *condition_params,
        json_row(txn, fields),
        to_json(entries),
        credited_at,
        *attached_params,
    ]
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        clear, txn_id, balances, *returned = cursor.fetchone()
    if not clear:
        return _IN_DEBT
    if txn_id is None:
        return _REPLAYED
    saved_as(txn, txn_id).replayed = False
    txn.attached = dict(zip([a.name for a in attached if a.returns], returned, strict=True))
    if isinstance(balances, str):  # json, not jsonb: psycopg returns it parsed or as text
        balances = json.loads(balances)
    fresh = {row[1]: (row[0], row[2], row[3]) for row in balances}  # code: (id, balance, version)
    for posting in postings:
        if posting.account.code in fresh:
            account = posting.account
            account.pk, account.balance, account.version = fresh[account.code]
    return _POSTED


def ledger_credit_at_once(
    *,
    kind: str,
    idempotency_key: str,
    postings: Sequence[Posting],
    merchant: Merchant | None = None,
    member: Member | None = None,
    reference: str = "",
    reason: str = "",
    actor: str = "system",
    breakdown: dict[str, Any] | None = None,
    attached: Sequence[AttachedWrite] = (),
    only_if: tuple[str, Sequence[Any]] | None = None,
    created_at: datetime | None = None,
) -> LedgerTransaction | None:
    """Post a credit and the writes that belong with it in one statement, or write nothing.

    For the common case only: every member posting is a credit to an account that owes
    nothing, and the key is new. A credited account may be an unsaved `Account` that only
    names its code (`member_account_code`): the statement finds it, so the caller needs no
    read first; after posting it carries its id, balance and version. The transaction, its
    entries, lots and balances and the `attached` writes go to the database in one round
    trip (one statement is atomic on its own, so no transaction is needed around it), and
    the posted transaction is returned with `attached` holding what the writes returned.
    Otherwise (a replay, a debt to repay, the `only_if` SQL condition false after the
    accounts are locked, a debit) nothing is written and None is returned:
    post with `ledger_post`.
    """
    _validate(kind=kind, idempotency_key=idempotency_key, postings=postings, by_code=True)
    created_at = created_at or timezone.now()
    member_postings = [p for p in postings if p.account.is_member_account]
    if not member_postings or any(p.points < 0 for p in member_postings):
        return None
    txn = _new_transaction(
        kind=kind,
        idempotency_key=idempotency_key,
        merchant=merchant,
        member=member,
        reference=reference,
        reason=reason,
        actor=actor,
        breakdown=breakdown,
        reverses=None,
        created_at=created_at,
    )
    posted = _post_credits_in_one_statement(
        txn,
        postings,
        member_postings,
        expires_at=DEFAULT_EXPIRY,
        credited_at=created_at,
        attached=attached,
        only_if=only_if,
    )
    return txn if posted is _POSTED else None


# --- A debit in one statement --------------------------------------------------------------
# Spending points (a redemption) debits one member account: the general path reads its lots
# soonest-expiring first, inserts the transaction and its entries, one allocation per lot it
# takes from, updates those lots and the balance: five round trips after the lock. Here the
# same rows are one statement, run after the caller has locked the account in the same
# transaction (so its snapshot, taken after the lock, sees the lots exactly as the lock froze
# them: a statement that locked and read at once would read them as of before its wait).

_DEBIT_SQL = """
WITH lots AS MATERIALIZED (
    -- The general path's candidates (`_debit_candidates`), in its order, with the points
    -- of the lots before each one: a lot is taken from while those are short of the debit.
    SELECT id, remaining,
           row_number() OVER spend AS n,
           sum(remaining) OVER spend - remaining AS before
    FROM points_pointlot
    WHERE account_id = %s::bigint AND remaining > 0
      AND (expires_at IS NULL OR expires_at > %s::timestamptz)
    WINDOW spend AS (ORDER BY expires_at ASC NULLS LAST, id)
){reads},
clear AS MATERIALIZED (
    SELECT coalesce(sum(remaining), 0) AS available,
           coalesce(sum(remaining), 0) >= %s::bigint{condition} AS ok
    FROM lots
){reserve},
txn AS (
    INSERT INTO points_ledgertransaction ({columns})
    SELECT {values} FROM clear{reserved}, {row} WHERE clear.ok
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
),
entries AS (
    INSERT INTO points_ledgerentry (transaction_id, account_id, points)
    SELECT txn.id, e.account_id, e.points
    FROM txn, jsonb_to_recordset(%s::jsonb) AS e(account_id bigint, points bigint, n integer)
    ORDER BY e.n
),
taken AS MATERIALIZED (
    SELECT lots.id, lots.n, least(lots.remaining, %s::bigint - lots.before) AS points
    FROM txn, lots
    WHERE lots.before < %s::bigint
),
allocations AS (
    INSERT INTO points_lotallocation (lot_id, transaction_id, points)
    SELECT taken.id, txn.id, taken.points FROM txn, taken
    ORDER BY taken.n
),
consumed AS (
    UPDATE points_pointlot lot SET remaining = lot.remaining - taken.points
    FROM taken
    WHERE lot.id = taken.id
),
balances AS (
    UPDATE points_account account
    SET balance = account.balance - %s::bigint, version = account.version + 1
    FROM txn
    WHERE account.id = %s::bigint
    RETURNING account.balance, account.version
){attached}
SELECT (SELECT ok FROM clear), (SELECT available FROM clear), (SELECT id FROM txn),
       (SELECT balance FROM balances), (SELECT version FROM balances), {reserved_id}{returns}
"""


@functools.cache
def _debit_statement(
    reads: str = "", condition: str = "", reserve: bool = False, ctes: str = "", returns: str = ""
) -> tuple[str, Any]:
    """`_DEBIT_SQL` of one shape, on one line, and the transaction's fields; once per shape
    and process. With `reserve`, the reference ends with an id taken from a table's
    sequence (`reserved.id`, which the attached writes may use too)."""
    fields, columns = insert_fields(LedgerTransaction)
    values = ", ".join(
        "left(new_txn.reference || reserved.id, 120)"
        if reserve and f.column == "reference"
        else f"new_txn.{quote(f.column)}"
        for f in fields
    )
    sql = _DEBIT_SQL.format(
        reads=reads,
        condition=f" AND ({condition})" if condition else "",
        reserve=",\nreserved AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence(%s::text, 'id')"
        "::regclass) AS id FROM clear WHERE clear.ok)"
        if reserve
        else "",
        reserved=", reserved" if reserve else "",
        reserved_id="(SELECT id FROM reserved)" if reserve else "NULL::bigint",
        columns=columns,
        values=values,
        row=from_json_row(LedgerTransaction, "new_txn"),
        attached=ctes,
        returns=returns,
    )
    return compact(sql), fields


@dataclass
class DebitAtOnce:
    """What `ledger_debit_at_once` did: the posted transaction (None: nothing was written),
    the account's spendable points it saw, and what the `reads` and `attached` returned."""

    txn: LedgerTransaction | None
    available: int
    returned: dict[str, Any]
    reserved_id: int | None = None


def ledger_debit_at_once(
    *,
    kind: str,
    idempotency_key: str,
    postings: Sequence[Posting],
    merchant: Merchant | None = None,
    member: Member | None = None,
    reference: str = "",
    reason: str = "",
    actor: str = "system",
    breakdown: dict[str, Any] | None = None,
    reads: Sequence[AttachedWrite] = (),
    only_if: tuple[str, Sequence[Any]] | None = None,
    reference_id_from: str | None = None,
    attached: Sequence[AttachedWrite] = (),
    now: datetime,
) -> DebitAtOnce:
    """Post a spending debit of one member account and the writes that belong with it in one
    statement, or write nothing: the rows `ledger_post` writes for it with
    `Overdraft.REFUSE` (lots soonest-expiring first, NULLs last, then by id; unexpired at
    `now`; one allocation per lot; balance and version), created at `now`.

    The caller must hold the member account's row lock (`SELECT ... FOR UPDATE`, earlier in
    the same transaction). `reads` are read-only CTEs placed before the guard, so `only_if`
    (an SQL condition) can use them; their `returns` come back whatever happens. With
    `reference_id_from` (a table), the reference is `reference` followed by the next id of
    that table's sequence (`reserved.id`, which the attached writes use as theirs). Nothing
    is written (the result's `txn` is None) when the spendable points fall short, `only_if`
    is false, or the key exists: the caller refuses or uses `ledger_post`.
    """
    _validate(kind=kind, idempotency_key=idempotency_key, postings=postings)
    debits = [p for p in postings if p.account.is_member_account]
    if len(debits) != 1 or debits[0].points >= 0:
        raise InvalidPosting("A debit at once takes from exactly one member account.")
    if not connection.in_atomic_block:
        raise InvalidPosting("A debit at once runs in the transaction holding its account lock.")
    account, amount = debits[0].account, -debits[0].points
    txn = _new_transaction(
        kind=kind,
        idempotency_key=idempotency_key,
        merchant=merchant,
        member=member,
        reference=reference,
        reason=reason,
        actor=actor,
        breakdown=breakdown,
        reverses=None,
        created_at=now,
    )
    read_ctes, read_returns, read_params = attached_ctes(reads)
    condition, condition_params = only_if or ("", ())
    ctes, returns, attached_params = attached_ctes(attached)
    sql, fields = _debit_statement(
        read_ctes, condition, reference_id_from is not None, ctes, read_returns + returns
    )
    entries = [
        {"account_id": p.account.pk, "points": p.points, "n": n} for n, p in enumerate(postings)
    ]
    params = [
        account.pk,
        now,
        *read_params,
        amount,
        *condition_params,
        *([reference_id_from] if reference_id_from is not None else []),
        json_row(txn, fields),
        to_json(entries),
        amount,
        amount,
        amount,
        account.pk,
        *attached_params,
    ]
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        _ok, available, txn_id, balance, version, reserved_id, *returned = cursor.fetchone()
    names = [w.name for w in (*reads, *attached) if w.returns]
    result = DebitAtOnce(
        txn=None, available=int(available), returned=dict(zip(names, returned, strict=True))
    )
    if txn_id is None:
        return result
    saved_as(txn, txn_id).replayed = False
    if reserved_id is not None:
        txn.reference = f"{txn.reference}{reserved_id}"[:120]
        result.reserved_id = reserved_id
    account.balance, account.version = balance, version
    result.txn = txn
    return result


def _new_transaction(
    *,
    kind: str,
    idempotency_key: str,
    merchant: Merchant | None,
    member: Member | None,
    reference: str,
    reason: str,
    actor: str,
    breakdown: dict[str, Any] | None,
    reverses: LedgerTransaction | None,
    created_at: datetime | None,
) -> LedgerTransaction:
    return unsaved(
        LedgerTransaction,
        kind=kind,
        idempotency_key=idempotency_key,
        merchant=merchant,
        member=member,
        reference=reference[:120],
        reason=reason[:255],
        actor=actor[:120],
        breakdown=dict(breakdown or {}),
        reverses=reverses,
        created_at=created_at,
    )


def _replayed(idempotency_key: str) -> LedgerTransaction:
    """The original of a transaction the unique index has just said exists."""
    original = _original(idempotency_key)
    assert original is not None
    return original


def _original(idempotency_key: str) -> LedgerTransaction | None:
    original = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
    if original is not None:
        original.replayed = True
    return original


def _plan(
    plan: _AccountPlan,
    *,
    txn: LedgerTransaction,
    reverses: LedgerTransaction | None,
    overdraft: Overdraft,
    expires_at: Any,
    credited_at: datetime,
    now: datetime,
    expired_lots_only: bool,
) -> _AccountPlan:
    if plan.delta > 0:
        _plan_credit(
            plan, txn=txn, reverses=reverses, expires_at=expires_at, credited_at=credited_at
        )
    else:
        _plan_debit(
            plan,
            reverses=reverses,
            overdraft=overdraft,
            now=now,
            expired_lots_only=expired_lots_only,
        )
    return plan


# --- Expiry in batches (set-based, PostgreSQL) -------------------------------------------
# The daily expiry job posts one `expire` transaction per member account whose lots are past
# `expires_at`, for thousands of accounts per database transaction, with a handful of
# set-based statements instead of one `ledger_post` per account. It writes exactly the rows
# `ledger_post(..., expired_lots_only=True)` would: the member entry, the expiry-account
# entry, an allocation consuming every due lot, the lots' `remaining` set to 0 and the
# cached balance and version. Its idempotency key is the one `account_expire` uses, so the
# two paths can never expire the same state twice.

EXPIRY_REASON = "points past their expiry date"


@dataclass(frozen=True)
class ExpiryBatch:
    """What one batch did. `last_account_id` is the cursor for the next batch."""

    transactions: int = 0
    points: int = 0
    lots: int = 0
    candidates: int = 0
    skipped: int = 0
    last_account_id: int = 0


def expiry_idempotency_key(account_id: int, version: int) -> str:
    """The account's version names its state exactly: the same sweep twice is one."""
    return f"expire:{account_id}:v{version}"


def ledger_expire_due_batch(
    *,
    now: datetime,
    batch_size: int = 1000,
    after_account_id: int = 0,
    skip_locked: bool = True,
    expiry_account_id: int,
) -> ExpiryBatch:
    """Expire the due lots of up to `batch_size` member accounts after `after_account_id`.

    One database transaction: lock the accounts (ascending ids; with `skip_locked`, accounts
    another transaction holds are skipped and counted in `skipped`), then post one `expire`
    transaction per locked account that still has lots past `now`, in one statement.
    """
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        # The open-lot index (account_id, expires_at) WHERE remaining > 0 yields accounts in
        # order, so a run is one pass over it however many batches it takes.
        cursor.execute(
            "SELECT DISTINCT account_id FROM points_pointlot "
            "WHERE remaining > 0 AND expires_at <= %s AND account_id > %s "
            "ORDER BY account_id LIMIT %s",
            [now, after_account_id, batch_size],
        )
        candidates = [row[0] for row in cursor.fetchall()]
        if not candidates:
            return ExpiryBatch(last_account_id=after_account_id)
        cursor.execute(
            "SELECT id FROM points_account WHERE id = ANY(%s) ORDER BY id "
            f"FOR UPDATE{' SKIP LOCKED' if skip_locked else ''}",
            [candidates],
        )
        locked = [row[0] for row in cursor.fetchall()]
        transactions = points = lots = 0
        if locked:
            # The CTE's row estimates are poor enough to trigger JIT compilation, which
            # cost more than the work itself (measured: 2.4 s of a 3.4 s batch).
            cursor.execute("SET LOCAL jit = off")
            # A new statement, so a new snapshot taken after the locks: the lots and
            # versions read here are exactly what the locks froze.
            cursor.execute(
                _EXPIRE_LOCKED_SQL,
                {
                    "accounts": locked,
                    "now": now,
                    "reason": EXPIRY_REASON,
                    "expiry_account": expiry_account_id,
                    "member_kinds": list(Account.MEMBER_KINDS),
                },
            )
            transactions, points, lots = cursor.fetchone()
    return ExpiryBatch(
        transactions=transactions,
        points=int(points),
        lots=lots,
        candidates=len(candidates),
        skipped=len(candidates) - len(locked),
        last_account_id=candidates[-1],
    )


_EXPIRE_LOCKED_SQL = """
WITH due_lots AS MATERIALIZED (
    SELECT lot.id, lot.account_id, lot.remaining
    FROM points_pointlot lot
    WHERE lot.account_id = ANY(%(accounts)s)
      AND lot.remaining > 0
      AND lot.expires_at <= %(now)s
),
due AS MATERIALIZED (
    SELECT account.id AS account_id,
           account.member_id,
           SUM(due_lots.remaining) AS points,
           'expire:' || account.id || ':v' || account.version AS idempotency_key
    FROM due_lots
    JOIN points_account account ON account.id = due_lots.account_id
    WHERE account.id = ANY(%(accounts)s) AND account.kind = ANY(%(member_kinds)s)
    GROUP BY account.id
),
txns AS (
    INSERT INTO points_ledgertransaction
        (kind, idempotency_key, merchant_id, member_id, reference, reason, actor, breakdown,
         reverses_id, created_at)
    SELECT 'expire', due.idempotency_key, NULL, due.member_id, '', %(reason)s, 'system',
           '{}'::jsonb, NULL, %(now)s
    FROM due
    ORDER BY due.account_id
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
),
posted AS MATERIALIZED (
    SELECT txns.id AS transaction_id, due.account_id, due.points
    FROM txns
    JOIN due ON due.idempotency_key = txns.idempotency_key
),
entries AS (
    INSERT INTO points_ledgerentry (transaction_id, account_id, points)
    SELECT transaction_id, account_id, points
    FROM (
        SELECT transaction_id, account_id, -points AS points, 0 AS side FROM posted
        UNION ALL
        SELECT transaction_id, %(expiry_account)s, points, 1 FROM posted
    ) AS both_sides
    ORDER BY transaction_id, side
),
allocations AS (
    INSERT INTO points_lotallocation (lot_id, transaction_id, points)
    SELECT due_lots.id, posted.transaction_id, due_lots.remaining
    FROM due_lots
    JOIN posted ON posted.account_id = due_lots.account_id
    ORDER BY due_lots.id
),
emptied AS (
    -- The same snapshot as due_lots, so the same lots; by the account index, not a join.
    UPDATE points_pointlot lot
    SET remaining = 0
    WHERE lot.account_id = ANY(%(accounts)s)
      AND lot.remaining > 0
      AND lot.expires_at <= %(now)s
      AND EXISTS (SELECT 1 FROM posted WHERE posted.account_id = lot.account_id)
    RETURNING lot.id
),
balances AS (
    UPDATE points_account account
    SET balance = account.balance - posted.points, version = account.version + 1
    FROM posted
    WHERE account.id = ANY(%(accounts)s) AND account.id = posted.account_id
)
SELECT (SELECT COUNT(*) FROM posted),
       (SELECT COALESCE(SUM(points), 0) FROM posted),
       (SELECT COUNT(*) FROM emptied)
"""


# `Kind.values` builds its list on every call; every posting asks.
_KINDS = frozenset(LedgerTransaction.Kind.values)


def _validate(
    *, kind: str, idempotency_key: str, postings: Sequence[Posting], by_code: bool = False
) -> None:
    """Refuse a malformed posting. With `by_code` (the one-statement credit), an unsaved
    account named by its code stands for the saved one."""
    if kind not in _KINDS:
        raise InvalidPosting(f"Unknown transaction kind {kind!r}.")
    if not idempotency_key or len(idempotency_key) > 200:
        raise InvalidPosting("An idempotency key of 1 to 200 characters is required.")
    if len(postings) < 2:
        raise UnbalancedTransaction("A transaction needs at least two entries.")
    seen = set()
    for posting in postings:
        if type(posting.points) is not int or posting.points == 0:
            raise InvalidPosting("Entry points must be non-zero integers.")
        account = posting.account
        if account.pk is None and not (by_code and account.code):
            raise InvalidPosting("Entries must name saved accounts.")
        if (account.pk or account.code) in seen:
            raise InvalidPosting(f"Account {account.code} appears twice in one posting.")
        seen.add(account.pk or account.code)
    total = sum(p.points for p in postings)
    if total != 0:
        raise UnbalancedTransaction(f"Entries sum to {total}, not zero.")


def _insert_unless_duplicate(txn: LedgerTransaction) -> bool:
    """INSERT ... ON CONFLICT (idempotency_key) DO NOTHING; True if this call inserted it."""
    fields, columns = insert_fields(LedgerTransaction)
    sql = (
        f"INSERT INTO {quote(LedgerTransaction._meta.db_table)} ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote('idempotency_key')}) DO NOTHING RETURNING {quote('id')}"
    )
    params = insert_values(txn, fields)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    saved_as(txn, row[0])
    return True


def _lock_member_accounts(account_ids: list[int]) -> dict[int, Account]:
    if not account_ids:
        return {}
    rows = Account.objects.select_for_update().filter(pk__in=account_ids).order_by("pk")
    return {account.pk: account for account in rows}


def _plan_credit(
    plan: _AccountPlan,
    *,
    txn: LedgerTransaction,
    reverses: LedgerTransaction | None,
    expires_at: Any,
    credited_at: datetime,
) -> None:
    amount = plan.delta
    if reverses is not None:
        # Reversing a debit: give back exactly the lots it consumed, most recent first.
        for lot, still_consumed in _consumed_by(reverses, plan.account):
            if amount == 0:
                break
            give_back = min(amount, still_consumed)
            plan.changes.setdefault(lot.pk, _LotChange(lot)).allocated -= give_back
            amount -= give_back
    if amount > 0:
        lot_expiry = (
            default_expiry(plan.account, credited_at)
            if expires_at is DEFAULT_EXPIRY
            else expires_at
        )
        plan.new_lot = PointLot(
            account=plan.account,
            transaction=txn,
            points=amount,
            remaining=amount,
            expires_at=lot_expiry,
            created_at=credited_at,
        )
    # A negative balance is a debt: the credit repays it before any point becomes spendable.
    debt = max(0, -plan.account.balance)
    if debt:
        repay = min(debt, plan.delta)
        for change in plan.changes.values():
            if repay == 0:
                break
            available = change.lot.remaining - change.allocated
            take = min(repay, available)
            change.allocated += take
            repay -= take
        if repay and plan.new_lot is not None:
            plan.new_lot_debt_repaid = repay
            plan.new_lot.remaining -= repay


def _consumed_by(debit: LedgerTransaction, account: Account) -> list[tuple[PointLot, int]]:
    """Lots of `account` that `debit` consumed and that earlier reversals have not given back."""
    rows = (
        LotAllocation.objects.filter(
            Q(transaction=debit) | Q(transaction__reverses=debit), lot__account=account
        )
        .values("lot")
        .annotate(net=Sum("points"))
        .filter(net__gt=0)
        .order_by("-lot")
    )
    net_by_lot = {row["lot"]: row["net"] for row in rows}
    lots = PointLot.objects.in_bulk(list(net_by_lot))
    return [(lots[lot_id], net) for lot_id, net in net_by_lot.items()]


def _plan_debit(
    plan: _AccountPlan,
    *,
    reverses: LedgerTransaction | None,
    overdraft: Overdraft,
    now: datetime,
    expired_lots_only: bool,
) -> None:
    wanted = -plan.delta
    for lot in _debit_candidates(
        plan.account, reverses=reverses, now=now, expired_lots_only=expired_lots_only
    ):
        if wanted == 0:
            break
        change = plan.changes.setdefault(lot.pk, _LotChange(lot))
        take = min(wanted, lot.remaining - change.allocated)
        if take > 0:
            change.allocated += take
            wanted -= take
    plan.changes = {pk: c for pk, c in plan.changes.items() if c.allocated}
    if wanted:
        if overdraft == Overdraft.REFUSE:
            raise InsufficientPoints(plan.account, -plan.delta, -plan.delta - wanted)
        plan.shortfall = wanted


def _debit_candidates(
    account: Account, *, reverses: LedgerTransaction | None, now: datetime, expired_lots_only: bool
) -> Iterator[PointLot]:
    """Lots to consume, in order: the reversed credit's own lots, then soonest-expiring first."""
    open_lots = PointLot.objects.filter(account=account, remaining__gt=0)
    if reverses is not None:
        yield from _in_pages(open_lots.filter(transaction=reverses).order_by("id"))
    if expired_lots_only:
        ordered = open_lots.filter(expires_at__lte=now)
    elif reverses is not None:
        # A reversal takes back points even from lots past expiry not yet swept by the job.
        ordered = open_lots.exclude(transaction=reverses)
    else:
        ordered = open_lots.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    yield from _in_pages(ordered.order_by(F("expires_at").asc(nulls_last=True), "id"))


def _in_pages(queryset: QuerySet[PointLot], size: int = 64) -> Iterator[PointLot]:
    """Yield rows a page at a time; stable because the account lock freezes its lots."""
    offset = 0
    while True:
        page = list(queryset[offset : offset + size])
        yield from page
        if len(page) < size:
            return
        offset += size


def _write(txn: LedgerTransaction, postings: Sequence[Posting], plans: list[_AccountPlan]) -> None:
    LedgerEntry.objects.bulk_create(
        [LedgerEntry(transaction=txn, account_id=p.account.pk, points=p.points) for p in postings]
    )
    new_lots = [plan.new_lot for plan in plans if plan.new_lot is not None]
    if new_lots:
        PointLot.objects.bulk_create(new_lots)
    allocations, changed_lots = [], []
    for plan in plans:
        for change in plan.changes.values():
            if change.allocated:
                change.lot.remaining -= change.allocated
                changed_lots.append(change.lot)
                allocations.append(
                    LotAllocation(lot=change.lot, transaction=txn, points=change.allocated)
                )
        if plan.new_lot_debt_repaid:
            allocations.append(
                LotAllocation(lot=plan.new_lot, transaction=txn, points=plan.new_lot_debt_repaid)
            )
        plan.account.balance += plan.delta
        plan.account.version += 1
    if changed_lots:
        PointLot.objects.bulk_update(changed_lots, ["remaining"])
    if allocations:
        LotAllocation.objects.bulk_create(allocations)
    if plans:
        Account.objects.bulk_update([plan.account for plan in plans], ["balance", "version"])


def _refresh_accounts_in_memory(postings: Sequence[Posting], locked: dict[int, Account]) -> None:
    """Let callers read the new balance from the Account objects they passed in."""
    for posting in postings:
        fresh = locked.get(posting.account.pk)
        if fresh is not None and fresh is not posting.account:
            posting.account.balance = fresh.balance
            posting.account.version = fresh.version


# --- Set-based earning from a staging table (bulk imports) ---------------------------------
#
# The one other way ledger rows are written, for imports of historical purchases: the same
# rows `ledger_post` writes for an earn (transaction, balanced entries, one lot per credited
# member account, cached balance and version), for tens of thousands of earns in five
# statements instead of a handful of round trips each.


class MemberAccountInDebt(LedgerError):
    """A staged credit would go to an account with a negative balance (a refund debt).

    Set-based credits do not repay debts; such earns must go through `ledger_post`. Raised
    before anything is written; the caller rolls back and retries with those routed there.
    """

    code = "member_account_in_debt"

    def __init__(self, account_ids: list[int]):
        self.account_ids = account_ids
        super().__init__(f"{len(account_ids)} staged member accounts have a negative balance.")


@dataclass(frozen=True)
class BulkEarnResult:
    transactions: int
    entries: int
    lots: int
    accounts: int


# Columns the staging table must have (types as in PostgreSQL); rows with txn_id NULL are
# ignored. Every staged row is one earn: member standard +points / issuance -points and
# member green +green_points / green issuance -green_points (zero amounts are left out).
EARN_STAGING_COLUMNS = {
    "txn_id": "bigint",  # pre-allocated from the ledgertransaction id sequence
    "idempotency_key": "text",
    "merchant_id": "bigint",
    "member_id": "bigint",
    "reference": "text",
    "breakdown": "jsonb",
    "points": "bigint",
    "standard_account_id": "bigint",
    "issuance_account_id": "bigint",
    "green_points": "bigint",
    "green_account_id": "bigint",
    "green_issuance_account_id": "bigint",
}


def ledger_bulk_earn_from_staging(
    *,
    staging_table: str,
    reason: str,
    actor: str = "system",
    now: datetime | None = None,
) -> BulkEarnResult:
    """Post one earn transaction per staged row, set-based; the rows `ledger_post` would write.

    `staging_table` (a TEMP table of the caller's transaction) has `EARN_STAGING_COLUMNS`.
    Must run inside the caller's transaction (it never commits). In order:

    1. lock the credited member accounts `FOR UPDATE` in primary-key order, and refuse
       (`MemberAccountInDebt`, nothing written) if any has a negative balance: repaying a
       debt consumes the new lot, which only `ledger_post` does;
    2. INSERT the transactions (kind earn, created_at `now`), 3. their entries in
       `earn_postings` order, 4. one lot per credited member account (standard points expire
       by `default_expiry`, green never), 5. one UPDATE of cached balances and versions
       (version + 1 per transaction, as `ledger_post` does).

    Idempotency is the caller's: it removes rows whose receipts are already recorded; a
    staged key that exists anyway violates the unique index and the caller rolls back.
    """
    now = now or timezone.now()
    standard_expiry = default_expiry(Account(kind=Account.Kind.STANDARD), now)
    stg = connection.ops.quote_name(staging_table)
    credits = f"""
        SELECT txn_id, 1 AS n, standard_account_id AS account_id, points FROM {stg}
         WHERE txn_id IS NOT NULL AND points > 0
        UNION ALL
        SELECT txn_id, 2, green_account_id, green_points FROM {stg}
         WHERE txn_id IS NOT NULL AND green_points > 0
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT coalesce(array_agg(id) FILTER (WHERE balance < 0), '{{}}')
              FROM (SELECT a.id, a.balance FROM points_account a
                     WHERE a.id IN (SELECT account_id FROM ({credits}) c)
                     ORDER BY a.id FOR UPDATE) locked
            """
        )
        in_debt = cursor.fetchone()[0]
        if in_debt:
            raise MemberAccountInDebt(sorted(in_debt))
        cursor.execute(
            f"""
            INSERT INTO points_ledgertransaction
                (id, kind, idempotency_key, merchant_id, member_id, reference, reason, actor,
                 breakdown, reverses_id, created_at)
            SELECT txn_id, %s, idempotency_key, merchant_id, member_id, left(reference, 120),
                   %s, %s, breakdown, NULL, %s
              FROM {stg} WHERE txn_id IS NOT NULL ORDER BY txn_id
            """,
            [LedgerTransaction.Kind.EARN, reason[:255], actor[:120], now],
        )
        transactions = cursor.rowcount
        cursor.execute(
            f"""
            INSERT INTO points_ledgerentry (transaction_id, account_id, points)
            SELECT s.txn_id, e.account_id, e.points
              FROM {stg} s
             CROSS JOIN LATERAL (VALUES
                   (1, s.standard_account_id, s.points),
                   (2, s.issuance_account_id, -s.points),
                   (3, s.green_account_id, s.green_points),
                   (4, s.green_issuance_account_id, -s.green_points)) e(n, account_id, points)
             WHERE s.txn_id IS NOT NULL AND e.points <> 0
             ORDER BY s.txn_id, e.n
            """
        )
        entries = cursor.rowcount
        cursor.execute(
            f"""
            INSERT INTO points_pointlot
                (account_id, transaction_id, points, remaining, expires_at, created_at)
            SELECT account_id, txn_id, points, points,
                   CASE WHEN n = 1 THEN %s::timestamptz END, %s
              FROM ({credits}) c ORDER BY txn_id, n
            """,
            [standard_expiry, now],
        )
        lots = cursor.rowcount
        cursor.execute(
            f"""
            UPDATE points_account a
               SET balance = a.balance + c.total, version = a.version + c.postings
              FROM (SELECT account_id, sum(points) AS total, count(*) AS postings
                      FROM ({credits}) credit GROUP BY account_id) c
             WHERE a.id = c.account_id
            """
        )
        accounts = cursor.rowcount
    return BulkEarnResult(transactions=transactions, entries=entries, lots=lots, accounts=accounts)
