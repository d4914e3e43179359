"""The audit trail query: one row per ledger entry, with the account's balance after it.

The running balance is a window function over each account's whole history (so a filter
by time or member never changes it), computed by the database, not in Python.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import connection
from django.utils.translation import gettext as _

from merchants.models import Merchant
from points.models import (
    Account,
    LedgerCheckpoint,
    LedgerEntry,
    LedgerSeal,
    LedgerTransaction,
    LotAllocation,
    Member,
    PointLot,
    Purchase,
    Refund,
)
from reports.periods import BadPeriod, day_start, parse_day

# One list for both formats, in this order (docs/audit.md, "The export", says what each is).
COLUMNS = [
    "record",  # "export" (first: what was exported), "entry" (one per ledger entry), "checkpoint"
    "seq",  # the transaction's position in the seal chain (1 = first sealed); empty: unsealed
    "transaction_id",
    "kind",
    "kind_label",
    "posted_at",
    "occurred_at",
    "merchant_id",
    "merchant",
    "member_id",
    "member_no",
    "reference",
    "reason",
    "actor",
    "idempotency_key",
    "reverses",
    "breakdown",
    "account_id",
    "account",
    "points",
    "balance_after",
    "lots",
    "allocations",
    "seal_version",
    "prev_hash",
    "hash",
    "record_data",
]
# The regulator's words for the kinds (fixed, like the kind codes: an auditor matches on them).
KIND_LABELS = {
    "earn": "获取",
    "green_earn": "绿色积分",
    "bonus": "赠送",
    "redeem": "兑换",
    "redeem_cancel": "兑换取消",
    "compensation": "补偿",
    "refund": "退款",
    "expire": "失效",
    "adjust": "调整",
    "green_activity": "绿色活动",
}
GREEN_LABEL = "绿色积分"


def kind_label(kind: str, account_kind: str) -> str:
    """The Chinese label of an entry's kind; green points earned say 绿色积分."""
    if account_kind in ("green", "green_issuance") and kind in ("earn", "green_earn"):
        return GREEN_LABEL
    return KIND_LABELS.get(kind, kind)


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
        raise BadFilter(_("%(name)s must be text.") % {"name": name})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise BadFilter(_("%(name)s is not valid UTF-8 text.") % {"name": name}) from error
    return value.strip() or None


def audit_filters(*, date_from, date_to, member=None, merchant=None, kind=None) -> AuditFilters:
    """Check and resolve export filters given as text (a form or the command line)."""
    try:
        start = parse_day(_text(date_from, "from") or "", name="from")
        end = parse_day(_text(date_to, "to") or "", name="to")
    except BadPeriod as error:
        raise BadFilter(str(error)) from error
    if end < start:
        raise BadFilter(_("The end date is before the start date."))
    member_text, merchant_text = _text(member, "member"), _text(merchant, "merchant")
    kind = _text(kind, "kind")
    member_obj = merchant_obj = None
    if member_text:
        member_obj = (
            Member.objects.filter(member_no=member_text).first()
            or Member.objects.filter(user__username=member_text).first()
        )
        if member_obj is None:
            raise BadFilter(
                _("No member with number or username %(member)s.") % {"member": member_text[:40]}
            )
    if merchant_text:
        merchant_obj = Merchant.objects.filter(slug=merchant_text).first()
        if merchant_obj is None:
            raise BadFilter(_("No merchant with slug %(slug)s.") % {"slug": merchant_text[:60]})
    if kind and kind not in LedgerTransaction.Kind.values:
        raise BadFilter(
            _("Unknown kind %(kind)s; one of: %(kinds)s.")
            % {"kind": kind[:30], "kinds": ", ".join(LedgerTransaction.Kind.values)}
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
    """The SELECT of the audit trail's entry rows, and its parameters, in ledger order.

    One row per ledger entry with everything its transaction's seal covers (docs/audit.md):
    seq, kind, posted and business time, merchant (for an expiry: the merchants that issued
    the expired lots), member, document reference, account, amount, balance after it, the
    lots the transaction created and the allocations it consumed (canonical JSON arrays), and
    the seal's version, previous hash and hash. Column order: `ENTRY_SQL_COLUMNS`.
    """
    q = connection.ops.quote_name
    entry, txn = q(LedgerEntry._meta.db_table), q(LedgerTransaction._meta.db_table)
    account, member = q(Account._meta.db_table), q(Member._meta.db_table)
    merchant, seal = q(Merchant._meta.db_table), q(LedgerSeal._meta.db_table)
    lot, allocation = q(PointLot._meta.db_table), q(LotAllocation._meta.db_table)
    purchase, refund = q(Purchase._meta.db_table), q(Refund._meta.db_table)
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
    utc = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    sql = f"""
        SELECT s.seq, t.id, t.kind, {_local_time("t.created_at")},
               {_local_time("COALESCE(p.occurred_at, rf.created_at, t.created_at)")},
               t.merchant_id,
               CASE WHEN t.kind = 'expire' THEN (
                   SELECT string_agg(DISTINCT im.name, '、')
                   FROM {allocation} ea
                   JOIN {lot} el ON el.id = ea.lot_id
                   JOIN {txn} et ON et.id = el.transaction_id
                   JOIN {merchant} im ON im.id = et.merchant_id
                   WHERE ea.transaction_id = t.id
               ) ELSE mc.name END,
               t.member_id, m.member_no, t.reference, t.reason, t.actor, t.idempotency_key,
               t.reverses_id, t.breakdown::text, a.id, a.code, a.kind, r.points, r.balance_after,
               (SELECT json_agg(json_build_array(l.id, la.code, l.points,
                                                 {utc.format("l.expires_at")}) ORDER BY l.id)
                FROM {lot} l JOIN {account} la ON la.id = l.account_id
                WHERE l.transaction_id = t.id)::text,
               (SELECT json_agg(json_build_array(al.lot_id, al.points) ORDER BY al.lot_id)
                FROM {allocation} al WHERE al.transaction_id = t.id)::text,
               s.seal_version, s.prev_hash, s.hash
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
        LEFT JOIN (
            SELECT transaction_id, prev_hash, hash, seal_version,
                   ROW_NUMBER() OVER (ORDER BY id) AS seq
            FROM {seal}
        ) s ON s.transaction_id = t.id
        LEFT JOIN {purchase} p ON p.transaction_id = t.id
        LEFT JOIN {refund} rf ON rf.transaction_id = t.id
        WHERE {" AND ".join(where)}
        ORDER BY t.id, r.id
    """
    return sql, params


ENTRY_SQL_COLUMNS = [
    "seq",
    "transaction_id",
    "kind",
    "posted_at",
    "occurred_at",
    "merchant_id",
    "merchant",
    "member_id",
    "member_no",
    "reference",
    "reason",
    "actor",
    "idempotency_key",
    "reverses",
    "breakdown",
    "account_id",
    "account",
    "account_kind",
    "points",
    "balance_after",
    "lots",
    "allocations",
    "seal_version",
    "prev_hash",
    "hash",
]


def _local_time(expression: str) -> str:
    """ISO 8601 with microseconds and offset in the site's zone, formatted by the database
    (parsing a timestamp per row in Python costs more than the rest of the row)."""
    zone = _quote_literal(settings.TIME_ZONE)
    return f"""(SELECT to_char(l.local, 'YYYY-MM-DD"T"HH24:MI:SS.US')
                    || CASE WHEN l.local >= l.utc THEN '+' ELSE '' END
                    || to_char(l.local - l.utc, 'HH24:MI')
                  FROM (SELECT {expression} AT TIME ZONE {zone} AS local,
                               {expression} AT TIME ZONE 'UTC' AS utc) l)"""


def audit_checkpoints(filters: AuditFilters) -> list[dict]:
    """The signed checkpoints covering the period: the last one before it and every one
    signed since its first day (docs/audit.md, "Checkpoints in an export")."""
    from points.services.checkpoints import checkpoint_record

    start = day_start(filters.date_from)
    before = LedgerCheckpoint.objects.filter(at__lt=start).order_by("-seq").first()
    since = list(LedgerCheckpoint.objects.filter(at__gte=start).order_by("seq"))
    return [checkpoint_record(c) for c in ([before] if before else []) + since]


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
