"""Bench: `import_purchases` against a physical baseline, in the same run.

    python bench/import_purchases.py [--rows N] [--repetitions 3]   (default 1,000,000 rows)

Creates a throw-away PostgreSQL database (on the server of DATABASE_URL, or
BENCH_DATABASE_URL; `jifen_bench_import_<pid>`), migrates it, creates merchants, members,
categories and products, writes a CSV, and times the import on a fresh copy of that
database per repetition (median of 3, after an uncounted warm-up). Then the baseline: COPY
out exactly the rows the import wrote (purchases, lines, ledger transactions, entries,
lots), TRUNCATE those tables, and time COPYing the rows back in: the same tables with the
same constraints, indexes and triggers. Both rates are CSV rows per second; the ratio is
ours / baseline (target >= 0.5). Writes bench/results/import_purchases.json and drops the
databases at the end.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    RESULTS,
    Result,
    create_database,
    create_schema_database,
    drop_database,
    log,
    median,
    migrate_schema,
    server_url,
    write_results,
)

TARGET = 0.5
TABLES = (  # in foreign-key order
    ("points_ledgertransaction", "id IN (SELECT transaction_id FROM points_purchase {w})"),
    (
        "points_ledgerentry",
        "transaction_id IN (SELECT transaction_id FROM points_purchase {w})",
    ),
    ("points_pointlot", "transaction_id IN (SELECT transaction_id FROM points_purchase {w})"),
    ("points_purchase", "id IN (SELECT id FROM points_purchase {w})"),
    ("points_purchaseline", "purchase_id IN (SELECT id FROM points_purchase {w})"),
)


def server_dsn(dbname: str) -> str:
    return server_url(dbname)


def setup_django(db_name: str) -> None:
    os.environ["DATABASE_URL"] = server_dsn(db_name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DEBUG"] = "False"
    os.environ.setdefault("POINTS_EXPIRY_MONTHS", "24")
    import django

    django.setup()


def use_database(db_name: str) -> None:
    """Point Django's default connection at another database of the same server."""
    from django.db import connections

    from points.services import accounts

    connections["default"].close()
    connections["default"].settings_dict["NAME"] = db_name
    accounts._committed_system_accounts.clear()  # their ids belong to the other database


def create_catalogue(members: int) -> tuple[list[str], list[tuple[str, list[dict]]]]:
    """20 merchants with 3 categories, 5 products (one green), a campaign; `members` members."""
    from django.contrib.auth import get_user_model

    from merchants.models import Campaign, Category, Merchant, Product
    from points.models import Account, Member

    merchants = []
    for m in range(20):
        merchant = Merchant.objects.create(name=f"Bench {m}", slug=f"bench-{m}")
        categories = [
            Category.objects.create(
                merchant=merchant, name=name, slug=name, multiplier=Decimal(multiplier)
            )
            for name, multiplier in (("notebooks", "1"), ("pens", "1.5"), ("bags", "1"))
        ]
        for p in range(5):
            Product.objects.create(
                merchant=merchant,
                sku=f"SKU-{p}",
                name=f"Product {p}",
                category=categories[p % 3],
                price_fen=1000,
                is_green=p == 0,
                carbon_saved_g=300 if p == 0 else 0,
            )
        campaign = Campaign.objects.create(
            merchant=merchant,
            name="Back to school",
            starts_on=date(2024, 9, 1),
            ends_on=date(2024, 9, 30),
            multiplier=Decimal("2"),
            cap_per_order=500,
        )
        campaign.categories.add(categories[0])
        lines = [{"sku": f"SKU-{p}"} for p in range(5)] + [{"category": c.slug} for c in categories]
        merchants.append((merchant.slug, lines))
    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=f"bench{n}", password="!") for n in range(members)], batch_size=5000
    )
    member_rows = Member.objects.bulk_create(
        # Old-format numbers (M + 8 digits): valid member numbers, made without a check digit.
        [Member(user=u, member_no=f"M{n:08d}") for n, u in enumerate(users)],
        batch_size=5000,
    )
    Account.objects.bulk_create(
        [
            Account(code=f"member:{m.pk}:{kind}", kind=kind, member=m)
            for m in member_rows
            for kind in Account.MEMBER_KINDS
        ],
        batch_size=10000,
    )
    return [m.member_no for m in member_rows], merchants


def write_csv(path: Path, rows: int, member_nos, merchants) -> None:
    """Purchases of 1-3 lines (mean 2) over a year, amounts 1 to 2,000 yuan."""
    from points.services.imports import COLUMNS

    rng = random.Random(42)
    start = datetime(2024, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    written = receipt = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        while written < rows:
            receipt += 1
            slug, lines = rng.choice(merchants)
            member_no = rng.choice(member_nos)
            when = (start + timedelta(seconds=rng.randrange(365 * 86400))).isoformat()
            for _ in range(min(rng.randint(1, 3), rows - written)):
                line = rng.choice(lines)
                writer.writerow(
                    [
                        slug,
                        member_no,
                        f"R{receipt:09d}",
                        when,
                        line.get("sku", ""),
                        line.get("category", ""),
                        rng.randint(1, 4),
                        rng.randint(100, 200_000),
                    ]
                )
                written += 1


def baseline_reload(workdir: Path, db_name: str) -> tuple[float, dict[str, int]]:
    """COPY out what the import wrote, TRUNCATE, and time COPYing it back in."""
    import psycopg

    dsn = server_dsn(db_name)
    where = "WHERE source = 'import'"
    counts = {}
    with psycopg.connect(dsn) as conn:
        for table, condition in TABLES:
            with (
                (workdir / f"{table}.bin").open("wb") as out,
                conn.cursor().copy(
                    f"COPY (SELECT * FROM {table} WHERE {condition.format(w=where)} "
                    f"ORDER BY 1) TO STDOUT (FORMAT binary)"
                ) as copy,
            ):
                for data in copy:
                    out.write(data)
            counts[table] = conn.execute(
                f"SELECT count(*) FROM {table} WHERE {condition.format(w=where)}"
            ).fetchone()[0]
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET jifen.allow_truncate = on")
        conn.execute(f"TRUNCATE {', '.join(t for t, _ in TABLES)} CASCADE")
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        for table, _ in TABLES:
            with (
                (workdir / f"{table}.bin").open("rb") as source,
                conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy,
            ):
                while data := source.read(1 << 20):
                    copy.write(data)
        conn.commit()
        elapsed = time.perf_counter() - started
    return elapsed, counts


def measure(*, rows: int, members: int, repetitions: int = 3) -> Result:
    """The import and its COPY-reload baseline, each on a fresh copy of the same database.

    One template database holds the catalogue and the members; every repetition imports the
    same CSV into its own copy of it, then reloads exactly what that import wrote. A warm-up
    (1 % of the rows, at least 1,000) goes first and is not counted.
    """
    template = f"jifen_bench_import_{os.getpid()}"
    create_schema_database(template)
    copies: list[str] = []
    try:
        setup_django(template)
        from django.db import connection

        from points.selectors import ledger_verify
        from points.services.imports import purchases_import

        migrate_schema()
        member_nos, merchants = create_catalogue(members)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        connection.close()
        with tempfile.TemporaryDirectory(prefix="jifen-bench-") as tmp:
            workdir = Path(tmp)
            warmup_csv, csv_path = workdir / "warmup.csv", workdir / "history.csv"
            write_csv(warmup_csv, max(1000, rows // 100), member_nos, merchants)
            write_csv(csv_path, rows, member_nos, merchants)
            ours, baseline = [], []
            for repetition in range(repetitions + 1):
                copy = f"{template}_{repetition}"
                create_database(copy, template=template)
                copies.append(copy)
                use_database(copy)
                with connection.cursor() as cursor:
                    cursor.execute("CHECKPOINT")
                started = time.perf_counter()
                summary = purchases_import(
                    path=warmup_csv if repetition == 0 else csv_path, progress=False
                )
                ours_seconds = time.perf_counter() - started
                if repetition == 1:  # the same file every time: checking once is enough
                    report = ledger_verify()
                    if not report.ok:
                        raise SystemExit(
                            "ledger_verify failed after the import: " + report.problems[0]
                        )
                connection.close()
                baseline_seconds, counts = baseline_reload(workdir, copy)
                drop_database(copy)
                copies.remove(copy)
                if repetition == 0:
                    continue
                ours.append(summary.rows / ours_seconds)
                baseline.append(summary.rows / baseline_seconds)
                log(
                    f"import_purchases {repetition}/{repetitions}: {summary.rows:,} rows "
                    f"({summary.purchases:,} purchases) in {ours_seconds:.1f} s, "
                    f"COPY reload {baseline_seconds:.1f} s"
                )
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up yet
            pass
        for name in (*copies, template):
            drop_database(name)
    return Result(
        name="import_purchases",
        ours=median(ours),
        baseline=median(baseline),
        unit="rows/s",
        target=TARGET,
        runs={"ours": [round(x, 1) for x in ours], "baseline": [round(x, 1) for x in baseline]},
        notes={"rows": summary.rows, "purchases": summary.purchases, "rows_written": counts},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    result = measure(rows=args.rows, members=args.members, repetitions=args.repetitions)
    print(f"rows written by the import: {result.notes['rows_written']}")
    print(f"ours:     {result.ours:,.0f} rows/s (median of {args.repetitions})")
    print(f"baseline: {result.baseline:,.0f} rows/s (COPY reload)")
    print(f"ratio:    {result.ratio:.2f} (target >= {TARGET})")
    write_results([result], RESULTS / "import_purchases.json")


if __name__ == "__main__":
    main()
