"""The audit trail query: one row per ledger entry, with the account's balance after it.

The running balance is a window function over each account's whole history (so a filter
by time or member never changes it), computed by the database, not in Python.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import connection

from merchants.models import Merchant
from points.models import (
    Account,
    LedgerEntry,
    LedgerSeal,
    LedgerTransaction,
    Member,
)
from reports.periods import BadPeriod, day_start, parse_day

COLUMNS = [
    "transaction_id",
    "seal_hash",
    "time",
    "kind",
    "member_no",
    "account",
    "points",
    "balance_after",
    "merchant",
    "reference",
    "reason",
    "actor",
]
FORMATS = ("csv", "jsonl")


class BadFilter(ValueError):
    """An export filter that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class AuditFilters:
    date_from: date
    date_to: date  # inclusive
    member_id: int | None = None
    member_no: str | None = None
    merchant_id: int | None = None
    merchant_slug: str | None = None
    kind: str | None = None

    def as_json(self) -> dict:
        data = asdict(self)
        data["date_from"] = self.date_from.isoformat()
        data["date_to"] = self.date_to.isoformat()
        return {k: v for k, v in data.items() if v is not None}


def _text(value, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadFilter(f"{name} must be text.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise BadFilter(f"{name} is not valid UTF-8 text.") from error
    return value.strip() or None


def audit_filters(*, date_from, date_to, member=None, merchant=None, kind=None) -> AuditFilters:
    """Check and resolve export filters given as text (a form or the command line)."""
    try:
        start = parse_day(_text(date_from, "from") or "", name="from")
        end = parse_day(_text(date_to, "to") or "", name="to")
    except BadPeriod as error:
        raise BadFilter(str(error)) from error
    if end < start:
        raise BadFilter("'to' is before 'from'.")
    member_text, merchant_text = _text(member, "member"), _text(merchant, "merchant")
    kind = _text(kind, "kind")
    member_obj = merchant_obj = None
    if member_text:
        member_obj = (
            Member.objects.filter(member_no=member_text).first()
            or Member.objects.filter(user__username=member_text).first()
        )
        if member_obj is None:
            raise BadFilter(f"No member with number or username {member_text[:40]!r}.")
    if merchant_text:
        merchant_obj = Merchant.objects.filter(slug=merchant_text).first()
        if merchant_obj is None:
            raise BadFilter(f"No merchant with slug {merchant_text[:60]!r}.")
    if kind and kind not in LedgerTransaction.Kind.values:
        raise BadFilter(
            f"Unknown kind {kind[:30]!r}; one of: {', '.join(LedgerTransaction.Kind.values)}."
        )
    return AuditFilters(
        date_from=start,
        date_to=end,
        member_id=member_obj.pk if member_obj else None,
        member_no=member_obj.member_no if member_obj else None,
        merchant_id=merchant_obj.pk if merchant_obj else None,
        merchant_slug=merchant_obj.slug if merchant_obj else None,
        kind=kind,
    )


def audit_rows_sql(filters: AuditFilters) -> tuple[str, list]:
    """The SELECT of the audit trail, and its parameters, in ledger order."""
    q = connection.ops.quote_name
    entry, txn = q(LedgerEntry._meta.db_table), q(LedgerTransaction._meta.db_table)
    account, member = q(Account._meta.db_table), q(Member._meta.db_table)
    merchant, seal = q(Merchant._meta.db_table), q(LedgerSeal._meta.db_table)
    where = ["t.created_at >= %s", "t.created_at < %s"]
    params: list = [day_start(filters.date_from), day_start(filters.date_to + timedelta(days=1))]
    if filters.member_id is not None:
        where.append("t.member_id = %s")
        params.append(filters.member_id)
    if filters.merchant_id is not None:
        where.append("t.merchant_id = %s")
        params.append(filters.merchant_id)
    if filters.kind:
        where.append("t.kind = %s")
        params.append(filters.kind)
    # ISO 8601 in the site's zone, formatted by the database (parsing a timestamp per
    # row in Python costs more than the rest of the row).
    time_column = f"""(SELECT to_char(l.local, 'YYYY-MM-DD"T"HH24:MI:SS.US')
                || CASE WHEN l.local >= l.utc THEN '+' ELSE '' END
                || to_char(l.local - l.utc, 'HH24:MI')
              FROM (SELECT t.created_at AT TIME ZONE {_quote_literal(settings.TIME_ZONE)}
                           AS local,
                           t.created_at AT TIME ZONE 'UTC' AS utc) l)"""
    sql = f"""
        SELECT t.id, s.hash, {time_column}, t.kind, m.member_no, a.code, r.points,
               r.balance_after, mc.name, t.reference, t.reason, t.actor
        FROM (
            SELECT e.id, e.transaction_id, e.account_id, e.points,
                   CAST(SUM(e.points) OVER (
                       PARTITION BY e.account_id ORDER BY e.transaction_id, e.id
                       ROWS UNBOUNDED PRECEDING
                   ) AS BIGINT) AS balance_after
            FROM {entry} e
        ) r
        JOIN {txn} t ON t.id = r.transaction_id
        JOIN {account} a ON a.id = r.account_id
        LEFT JOIN {member} m ON m.id = t.member_id
        LEFT JOIN {merchant} mc ON mc.id = t.merchant_id
        LEFT JOIN {seal} s ON s.transaction_id = t.id
        WHERE {" AND ".join(where)}
        ORDER BY t.id, r.id
    """
    return sql, params


def _quote_literal(text: str) -> str:
    """A time-zone name as an SQL literal (it comes from settings, never from a user)."""
    return "'" + text.replace("'", "''") + "'"


def audit_row_count(filters: AuditFilters) -> int:
    """How many entries the filters select (what an export of them must contain)."""
    entries = LedgerEntry.objects.filter(
        transaction__created_at__gte=day_start(filters.date_from),
        transaction__created_at__lt=day_start(filters.date_to + timedelta(days=1)),
    )
    if filters.member_id is not None:
        entries = entries.filter(transaction__member_id=filters.member_id)
    if filters.merchant_id is not None:
        entries = entries.filter(transaction__merchant_id=filters.merchant_id)
    if filters.kind:
        entries = entries.filter(transaction__kind=filters.kind)
    return entries.count()
