"""Benchmark: the audit-trail export against PostgreSQL's own COPY of the same rows.

    python bench/export_audit.py [--rows 1000000]

Creates a throw-away database (jifen_bench_audit_<pid>), migrates it, fills it with `--rows`
ledger entries (two per transaction, over 1,000 member accounts and 3 merchants, every
transaction sealed) by set-based SQL, then times, in the same run:

* ours: `reports.services.audit.audit_export_to_file` (CSV, REPEATABLE READ, server-side
  cursor, Python formatting, sha256 of the output, the export log row);
* baseline: `COPY (<the same SELECT>) TO STDOUT WITH (FORMAT csv)` read by psycopg.

Each side is warmed up once (not counted), then both run three times, interleaved; the
medians count. Writes bench/results/export_audit.json and prints the peak RSS of this
process (limit 200 MB). The server is DATABASE_URL's (or BENCH_DATABASE_URL's); the
database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    RESULTS,
    Result,
    create_schema_database,
    drop_database,
    log,
    migrate_schema,
    repeat,
    server_url,
    write_results,
)

DB_NAME = f"jifen_bench_audit_{os.getpid()}"
TARGET = 0.3
RSS_LIMIT_MB = 200


class Sink:
    """A file that counts what it is given and keeps nothing."""

    def __init__(self):
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def fill(rows: int) -> None:
    from django.db import connection

    transactions = rows // 2
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO merchants_merchant (name, slug, points_per_yuan,
                                            cancel_compensation_percent, active, created_at)
            SELECT '商户 ' || i, 'bench-' || i, 1, 10, true, now() FROM generate_series(1, 3) i;
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                                   is_staff, is_active, date_joined)
            SELECT '!', false, 'bench' || i, '', '', '', false, true, now()
            FROM generate_series(1, 1000) i;
            INSERT INTO points_member (user_id, member_no, joined_at)
            SELECT id, 'B' || lpad(id::text, 8, '0'), now() FROM auth_user
            WHERE username LIKE 'bench%';
            INSERT INTO points_account (code, kind, member_id, balance, version, created_at)
            SELECT 'member:' || id || ':standard', 'standard', id, 0, 0, now() FROM points_member;
            INSERT INTO points_account (code, kind, merchant_id, balance, version, created_at)
            SELECT 'issuance:' || slug, 'issuance', id, 0, 0, now() FROM merchants_merchant;
            """
        )
        cursor.execute(
            """
            CREATE TEMP TABLE bench_accounts AS
            SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, member_id FROM points_account
            WHERE kind = 'standard';
            CREATE TEMP TABLE bench_issuers AS
            SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, merchant_id FROM points_account
            WHERE kind = 'issuance';
            INSERT INTO points_ledgertransaction (kind, idempotency_key, merchant_id, member_id,
                reference, reason, actor, breakdown, created_at)
            SELECT 'earn', 'bench-' || i, iss.merchant_id, acc.member_id,
                   'R' || lpad(i::text, 8, '0'), '购物 purchase', 'terminal:1', '{}'::jsonb,
                   now() - interval '20 days' + i * interval '1 second'
            FROM generate_series(1, %(n)s) i
            JOIN bench_accounts acc ON acc.n = i %% 1000
            JOIN bench_issuers iss ON iss.n = i %% 3;
            """,
            {"n": transactions},
        )
        cursor.execute(
            """
            INSERT INTO points_ledgerentry (transaction_id, account_id, points)
            SELECT t.id, a.id, 10 + t.id % 90 FROM points_ledgertransaction t
            JOIN points_account a ON a.kind = 'standard' AND a.member_id = t.member_id
            UNION ALL
            SELECT t.id, a.id, -(10 + t.id % 90) FROM points_ledgertransaction t
            JOIN points_account a ON a.kind = 'issuance' AND a.merchant_id = t.merchant_id;
            INSERT INTO points_ledgerseal (transaction_id, prev_hash, hash, seal_version,
                                           sealed_at)
            SELECT id, '', md5(id::text) || md5(id::text || 'x'), 2, now()
            FROM points_ledgertransaction ORDER BY id;
            ANALYZE;
            """
        )


def run_ours(filters) -> tuple[float, int, int]:
    from reports.services.audit import audit_export_to_file

    sink = Sink()
    started = time.perf_counter()
    log = audit_export_to_file(filters=filters, file_format="csv", out=sink, actor="bench")
    return time.perf_counter() - started, log.row_count, sink.size


def run_copy(filters) -> tuple[float, int]:
    import psycopg

    from config.db import libpq_params
    from reports.audit import audit_rows_sql

    sql, params = audit_rows_sql(filters)
    with psycopg.connect(**libpq_params()) as conn:
        inline = psycopg.ClientCursor(conn).mogrify(sql, params)
        size = 0
        started = time.perf_counter()
        with conn.cursor().copy(f"COPY ({inline}) TO STDOUT WITH (FORMAT csv)") as copy:
            for data in copy:
                size += len(data)
        return time.perf_counter() - started, size


def measure(*, rows: int, repetitions: int = 3) -> Result:
    """Fill a throw-away database with `rows` entries; medians of `repetitions` of each side
    after an uncounted warm-up of each, interleaved."""
    create_schema_database(DB_NAME)
    try:
        os.environ["DATABASE_URL"] = server_url(DB_NAME)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        import django

        django.setup()
        from django.db import connection
        from django.utils import timezone

        from reports.audit import audit_filters

        migrate_schema()
        started = time.perf_counter()
        fill(rows)
        log(f"export_audit: filled {rows:,} entries in {time.perf_counter() - started:.1f} s")
        today = timezone.localdate()
        filters = audit_filters(date_from="2000-01-01", date_to=today.isoformat())
        sizes = {}

        def ours() -> float:
            seconds, exported, sizes["ours"] = run_ours(filters)
            return exported / seconds

        def baseline() -> float:
            seconds, sizes["baseline"] = run_copy(filters)
            return rows / seconds

        our_rate, copy_rate, runs = repeat(ours, baseline, repetitions=repetitions)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        connection.close()
    finally:
        drop_database(DB_NAME)
    return Result(
        name="export_audit",
        ours=our_rate,
        baseline=copy_rate,
        unit="rows/s",
        target=TARGET,
        runs=runs,
        notes={
            "rows": rows,
            "peak_rss_mb": round(peak_rss_mb, 1),
            "rss_limit_mb": RSS_LIMIT_MB,
            "output_bytes": sizes,
        },
        passed=our_rate / copy_rate >= TARGET and peak_rss_mb <= RSS_LIMIT_MB,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger entries (even)")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    if args.rows < 2:
        parser.error("--rows must be at least 2")
    result = measure(rows=args.rows, repetitions=args.repetitions)
    out = RESULTS / "export_audit.json"
    write_results([result], out)
    print(
        f"ours {result.ours:,.0f} rows/s, COPY {result.baseline:,.0f} rows/s: "
        f"ratio {result.ratio:.2f} (target {TARGET}); "
        f"peak RSS {result.notes['peak_rss_mb']:.0f} MB (limit {RSS_LIMIT_MB}); "
        f"wrote {out.relative_to(ROOT)}"
    )
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
