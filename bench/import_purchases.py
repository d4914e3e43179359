"""Bench: `import_purchases` against a physical baseline, in the same run.

    python bench/import_purchases.py [--rows N]     (default 1,000,000 CSV rows)

Creates a throw-away PostgreSQL database (BENCH_DATABASE_URL's server, database
`jifen_bench_import`), migrates it, creates merchants, members, categories and products,
writes a CSV, and times the import. Then the baseline: COPY out exactly the rows the import
wrote (purchases, lines, ledger transactions, entries, lots), TRUNCATE those tables, and time
COPYing the rows back in — the same tables with the same constraints, indexes and triggers.
Both rates are CSV rows per second; the ratio is ours / baseline (target >= 0.5). Writes
bench/results/import_purchases.json and drops the database at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
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
SERVER_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DB_NAME = "jifen_bench_import"
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
    base = SERVER_URL.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(server_dsn("postgres"), autocommit=True) as conn:
        conn.execute(sql)


def setup_django() -> None:
    os.environ["DATABASE_URL"] = server_dsn(DB_NAME)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DEBUG"] = "False"
    os.environ.setdefault("POINTS_EXPIRY_MONTHS", "24")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


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
        [Member(user=u, member_no=f"B{n:08d}") for n, u in enumerate(users)], batch_size=5000
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


def baseline_reload(workdir: Path) -> tuple[float, dict[str, int]]:
    """COPY out what the import wrote, TRUNCATE, and time COPYing it back in."""
    import psycopg

    dsn = server_dsn(DB_NAME)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=50_000)
    args = parser.parse_args()

    admin(f"DROP DATABASE IF EXISTS {DB_NAME}")
    admin(f"CREATE DATABASE {DB_NAME}")
    try:
        setup_django()
        from django.core.management import call_command
        from django.db import connection

        from points.selectors import ledger_verify
        from points.services.imports import purchases_import

        call_command("migrate", verbosity=0)
        member_nos, merchants = create_catalogue(args.members)
        with tempfile.TemporaryDirectory(prefix="jifen-bench-") as tmp:
            workdir = Path(tmp)
            csv_path = workdir / "history.csv"
            write_csv(csv_path, args.rows, member_nos, merchants)
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
                cursor.execute("CHECKPOINT")
            started = time.perf_counter()
            summary = purchases_import(path=csv_path, progress=True)
            ours_seconds = time.perf_counter() - started
            print(
                f"import: {summary.rows} rows, {summary.purchases} purchases, "
                f"{summary.rejected_rows} rejected, {ours_seconds:.1f} s",
                file=sys.stderr,
            )
            report = ledger_verify()
            if not report.ok:
                raise SystemExit("ledger_verify failed after the import: " + report.problems[0])
            connection.close()
            baseline_seconds, counts = baseline_reload(workdir)
        ours = summary.rows / ours_seconds
        baseline = summary.rows / baseline_seconds
        ratio = ours / baseline
        print(f"rows written by the import: {counts}")
        print(f"ours:     {ours:,.0f} rows/s ({ours_seconds:.1f} s)")
        print(f"baseline: {baseline:,.0f} rows/s ({baseline_seconds:.1f} s, COPY reload)")
        print(f"ratio:    {ratio:.2f} (target >= {TARGET})")
        results = ROOT / "bench" / "results"
        results.mkdir(parents=True, exist_ok=True)
        (results / "import_purchases.json").write_text(
            json.dumps(
                [
                    {
                        "name": f"import_purchases ({summary.rows:,} rows)",
                        "ours": round(ours, 1),
                        "baseline": round(baseline, 1),
                        "unit": "rows/s",
                        "ratio": round(ratio, 3),
                        "target": TARGET,
                    }
                ],
                indent=2,
            )
            + "\n"
        )
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up yet
            pass
        admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    main()
