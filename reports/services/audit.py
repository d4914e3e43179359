"""Exporting the audit trail: streamed, from one snapshot, and itself logged."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from reports.audit import COLUMNS, FORMATS, AuditFilters, BadFilter, audit_rows_sql
from reports.models import AuditExport

BOM = "\ufeff".encode()
CHUNK_ROWS = 2000


def column_labels() -> list[str]:
    """CSV header: the column names in the reader's language (Chinese by default)."""
    labels = {
        "transaction_id": _("Transaction"),
        "seal_hash": _("Seal hash"),
        "time": _("Time"),
        "kind": _("Kind"),
        "member_no": _("Member number"),
        "account": _("Account"),
        "points": _("Points"),
        "balance_after": _("Balance after"),
        "merchant": _("Merchant"),
        "reference": _("Reference"),
        "reason": _("Reason"),
        "actor": _("Actor"),
    }
    return [labels[name] for name in COLUMNS]


@contextmanager
def consistent_snapshot():
    """One read-only transaction, REPEATABLE READ so every row comes from the same
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


class _Formatter:
    def __init__(self, file_format: str):
        self.file_format = file_format
        self.zone = ZoneInfo(settings.TIME_ZONE)
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def time(self, value) -> str:
        """ISO 8601 with microseconds in the site's zone (PostgreSQL formats it itself)."""
        if isinstance(value, str):  # already formatted by the database
            return value
        if timezone.is_naive(value):
            value = value.replace(tzinfo=UTC)
        return value.astimezone(self.zone).isoformat(timespec="microseconds")

    def header(self) -> bytes:
        if self.file_format == "csv":
            self.writer.writerow(column_labels())
            return BOM + self._drain()
        return b""

    def rows(self, rows) -> bytes:
        time = self.time
        if self.file_format == "csv":
            self.writer.writerows((r[0], r[1], time(r[2]), *r[3:]) for r in rows)
        else:
            write = self.buffer.write
            for r in rows:
                record = dict(zip(COLUMNS, r, strict=True))
                record["time"] = time(r[2])
                write(json.dumps(record, ensure_ascii=False))
                write("\n")
        return self._drain()

    def _drain(self) -> bytes:
        data = self.buffer.getvalue().encode("utf-8")
        self.buffer.seek(0)
        self.buffer.truncate()
        return data


def audit_rows_stream(filters: AuditFilters, file_format: str) -> Iterator[tuple[bytes, int]]:
    """Yield (bytes, rows in them) of the export, from one snapshot, in constant memory."""
    if file_format not in FORMATS:
        raise BadFilter(f"Unknown format {file_format!r}; use csv or jsonl.")
    formatter = _Formatter(file_format)
    sql, params = audit_rows_sql(filters)
    with consistent_snapshot():
        header = formatter.header()
        if header:
            yield header, 0
        # A named (server-side) cursor on PostgreSQL: rows arrive CHUNK_ROWS at a time.
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(CHUNK_ROWS):
                yield formatter.rows(rows), len(rows)


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
