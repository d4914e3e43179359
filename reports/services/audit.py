"""Exporting the audit trail: streamed, from one snapshot, and itself logged."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from points.csv_writer import BOM, csv_writer
from points.services.sealing import canonical_json
from reports.audit import (
    COLUMNS,
    ENTRY_SQL_COLUMNS,
    FORMATS,
    AuditFilters,
    BadFilter,
    audit_checkpoints,
    audit_rows_sql,
    kind_label,
)
from reports.models import AuditExport

CHUNK_ROWS = 1000
EXPORT_FORMAT_VERSION = 1


def column_labels() -> list[str]:
    """CSV header: the column names in the reader's language (Chinese by default)."""
    labels = {
        "record": _("Record"),
        "seq": _("Chain position"),
        "transaction_id": _("Transaction"),
        "kind": _("Kind code"),
        "kind_label": _("Kind"),
        "posted_at": _("Posted at"),
        "occurred_at": _("Business time"),
        "merchant_id": _("Merchant ID"),
        "merchant": _("Merchant"),
        "member_id": _("Member ID"),
        "member_no": _("Member number"),
        "reference": _("Document reference"),
        "reason": _("Reason"),
        "actor": _("Actor"),
        "idempotency_key": _("Idempotency key"),
        "reverses": _("Reverses transaction"),
        "breakdown": _("Breakdown"),
        "account_id": _("Account ID"),
        "account": _("Account"),
        "points": _("Points"),
        "balance_after": _("Balance after"),
        "lots": _("Lots created"),
        "allocations": _("Lots consumed"),
        "seal_version": _("Seal version"),
        "prev_hash": _("Previous hash"),
        "hash": _("Seal hash"),
        "record_data": _("Record data"),
    }
    return [labels[name] for name in COLUMNS]


@contextmanager
def consistent_snapshot():
    """One read-only transaction; REPEATABLE READ so every row comes from the same
    snapshot. Inside a caller's transaction (tests) it joins it as it is."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            if outermost:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # A cursor is planned for its first 10% of rows by default (nested loops);
            # an export reads all of them, so plan for that (hash joins, one sort).
            cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        yield


_ENTRY_INDEX = {name: index for index, name in enumerate(ENTRY_SQL_COLUMNS)}


def _record(**values) -> list:
    return [values.get(name) for name in COLUMNS]


class _Formatter:
    def __init__(self, file_format: str):
        self.file_format = file_format
        self.buffer = io.StringIO()
        self.writer = csv_writer(self.buffer)

    def header(self) -> bytes:
        if self.file_format == "csv":
            self.buffer.write(BOM)
            self.writer.writerow(column_labels())
        return self._drain()

    def records(self, records) -> bytes:
        if self.file_format == "csv":
            self.writer.writerows(records)
        else:
            write = self.buffer.write
            for record in records:
                write(json.dumps(dict(zip(COLUMNS, record, strict=True)), ensure_ascii=False))
                write("\n")
        return self._drain()

    def entries(self, rows) -> bytes:
        i = _ENTRY_INDEX
        kind, account_kind = i["kind"], i["account_kind"]
        # ENTRY_SQL_COLUMNS minus account_kind, plus record/kind_label/record_data = COLUMNS
        records = (
            [
                "entry",
                r[0],
                r[1],
                r[2],
                kind_label(r[kind], r[account_kind]),
                *r[3:account_kind],
                *r[account_kind + 1 :],
                None,
            ]
            for r in rows
        )
        return self.records(records)

    def _drain(self) -> bytes:
        data = self.buffer.getvalue().encode("utf-8")
        self.buffer.seek(0)
        self.buffer.truncate()
        return data


def export_description(filters: AuditFilters) -> dict:
    """The first record of an export: what it holds (docs/audit.md)."""
    from points.services.checkpoints import SigningKeyMissing, key_id, public_key

    try:
        signing_key_id = key_id(public_key())
    except (SigningKeyMissing, ValueError, OSError):
        signing_key_id = None
    return {
        "format": "jifen-audit-export",
        "format_version": EXPORT_FORMAT_VERSION,
        "from": filters.date_from.isoformat(),
        "to": filters.date_to.isoformat(),
        "time_zone": settings.TIME_ZONE,
        "filters": {
            k: v for k, v in filters.as_json().items() if k not in ("date_from", "date_to")
        },
        "complete": filters.member_id is None and filters.merchant_id is None and not filters.kind,
        "exported_at": timezone.now().isoformat(),
        "key_id": signing_key_id,
    }


def audit_rows_stream(filters: AuditFilters, file_format: str) -> Iterator[tuple[bytes, int]]:
    """Yield (bytes, entry rows in them) of the export, from one snapshot, in constant memory:
    the header (CSV), the export record, one record per entry, then the checkpoints."""
    if file_format not in FORMATS:
        raise BadFilter(f"Unknown format {file_format!r}; use csv or jsonl.")
    formatter = _Formatter(file_format)
    sql, params = audit_rows_sql(filters)
    with consistent_snapshot():
        # Read first: this query fixes the snapshot every later row comes from.
        checkpoints = [
            _record(record="checkpoint", record_data=canonical_json(checkpoint))
            for checkpoint in audit_checkpoints(filters)
        ]
        yield formatter.header(), 0
        description = canonical_json(export_description(filters))
        yield formatter.records([_record(record="export", record_data=description)]), 0
        # A named (server-side) cursor: rows arrive CHUNK_ROWS at a time.
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(CHUNK_ROWS):
                yield formatter.entries(rows), len(rows)
        if checkpoints:
            yield formatter.records(checkpoints), 0


def audit_export(
    *, filters: AuditFilters, file_format: str, user=None, actor: str
) -> tuple[AuditExport, Iterator[bytes]]:
    """Start an export: log it, and return the log row and the stream of its bytes.

    The log row is written before the first byte (status "started") and completed with the
    row count and the sha256 of every byte after the last one.
    """
    if file_format not in FORMATS:
        raise BadFilter(f"Unknown format {file_format!r}; use csv or jsonl.")
    log = AuditExport.objects.create(
        user=user, actor=actor[:150], filters=filters.as_json(), file_format=file_format
    )

    def stream() -> Iterator[bytes]:
        digest = hashlib.sha256()
        count = 0
        for chunk, rows in audit_rows_stream(filters, file_format):
            digest.update(chunk)
            count += rows
            yield chunk
        AuditExport.objects.filter(pk=log.pk).update(
            status=AuditExport.Status.COMPLETE,
            row_count=count,
            sha256=digest.hexdigest(),
            finished_at=datetime.now(tz=UTC),
        )
        log.status, log.row_count, log.sha256 = (
            AuditExport.Status.COMPLETE,
            count,
            digest.hexdigest(),
        )

    return log, stream()


def audit_export_to_file(
    *, filters: AuditFilters, file_format: str, out, user=None, actor: str
) -> AuditExport:
    """Write a whole export to a binary file object; returns the completed log row."""
    log, stream = audit_export(filters=filters, file_format=file_format, user=user, actor=actor)
    for chunk in stream:
        out.write(chunk)
    return log
