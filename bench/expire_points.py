"""Benchmark: the expiry job against a plain UPDATE of the same lots.

    python bench/expire_points.py [--lots 1000000 --members 100000 --batch-size 1000]

Creates a throw-away PostgreSQL database (jifen_bench_expiry_<pid>) on the server of
BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), migrates it and
generates the lots with set-based SQL (generate_series): every lot is an `earn` transaction
with its two entries, already past its expiry date, spread evenly over the members. Two
identical copies are made from it; on one a plain

    UPDATE points_pointlot SET remaining = 0 WHERE remaining > 0 AND expires_at <= now

is timed (the least any expiry can do), on the other `points_expire_due` (one expire
transaction per member with its entries, an allocation per lot, the lots emptied, the
cached balances updated, in batches). Both rates are lots per second; the result is written
to bench/results/expire_points.json. All three databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 0.2


def server_url(database: str) -> str:
    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", "", ""))


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(sql)


def drop(name: str) -> None:
    admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    admin(f'DROP DATABASE IF EXISTS "{name}"')


GENERATE = [
    """INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                              is_staff, is_active, date_joined)
       SELECT '!', false, 'bench' || g, '', '', '', false, true, now()
       FROM generate_series(1, %(members)s) g""",
    """INSERT INTO points_member (user_id, member_no, joined_at)
       SELECT id, 'B' || lpad(id::text, 9, '0'), now() FROM auth_user
       WHERE username LIKE 'bench%%'""",
    """INSERT INTO points_account (code, kind, member_id, balance, version, created_at)
       SELECT 'member:' || m.id || ':' || k.kind, k.kind, m.id, 0, 0, now()
       FROM points_member m CROSS JOIN (VALUES ('standard'), ('green')) AS k(kind)
       ORDER BY m.id, k.kind DESC""",
    """CREATE UNLOGGED TABLE bench_lot AS
       SELECT g AS id, a.id AS account_id, a.member_id, 1 + g %% 50 AS points,
              %(now)s::timestamptz - interval '1 day' - (g %% 30) * interval '1 day' AS expires_at
       FROM generate_series(1, %(lots)s) g
       JOIN (SELECT id, member_id, row_number() OVER (ORDER BY id) AS n
             FROM points_account WHERE kind = 'standard') a
         ON a.n = 1 + (g - 1) %% %(members)s""",
    # The database is new, so transactions and lots can take the ids 1..N.
    """INSERT INTO points_ledgertransaction (id, kind, idempotency_key, member_id, reference,
                                             reason, actor, breakdown, created_at)
       SELECT id, 'earn', 'bench:' || id, member_id, '', 'bench', 'bench', '{}'::jsonb,
              expires_at - interval '365 days'
       FROM bench_lot ORDER BY id""",
    """INSERT INTO points_ledgerentry (transaction_id, account_id, points)
       SELECT id, account_id, points FROM bench_lot
       UNION ALL SELECT id, %(issuer)s, -points FROM bench_lot""",
    """INSERT INTO points_pointlot (id, account_id, transaction_id, points, remaining,
                                    expires_at, created_at)
       SELECT id, account_id, id, points, points, expires_at, expires_at - interval '365 days'
       FROM bench_lot ORDER BY id""",
    """UPDATE points_account a SET balance = s.total, version = s.lots
       FROM (SELECT account_id, SUM(points) AS total, COUNT(*) AS lots
             FROM bench_lot GROUP BY account_id) s
       WHERE a.id = s.account_id""",
    "SELECT setval(pg_get_serial_sequence('points_ledgertransaction', 'id'), %(lots)s)",
    "SELECT setval(pg_get_serial_sequence('points_pointlot', 'id'), %(lots)s)",
    "DROP TABLE bench_lot",
]

BASELINE_SQL = "UPDATE points_pointlot SET remaining = 0 WHERE remaining > 0 AND expires_at <= %s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--verify", action="store_true", help="run ledger_verify afterwards")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "expire_points.json"))
    args = parser.parse_args()
    if args.lots < args.members:
        parser.error("--lots must be at least --members")

    template = f"jifen_bench_expiry_{os.getpid()}"
    ours_db, baseline_db = f"{template}_ours", f"{template}_base"
    os.environ["DATABASE_URL"] = server_url(template)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.pop("CELERY_BROKER_URL", None)  # eager: the bench needs no worker
    admin(f'CREATE DATABASE "{template}"')
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.utils import timezone

        from points.services.accounts import expiry_account, issuance_account

        started = time.monotonic()
        call_command("migrate", verbosity=0)
        now = timezone.now()
        issuer = issuance_account()
        expiry_account()
        params = {"lots": args.lots, "members": args.members, "now": now, "issuer": issuer.pk}
        with connection.cursor() as cursor:
            for statement in GENERATE:
                cursor.execute(statement, params)
        connection.close()
        import psycopg

        with psycopg.connect(server_url(template), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        admin(f'CREATE DATABASE "{ours_db}" TEMPLATE "{template}"')
        admin(f'CREATE DATABASE "{baseline_db}" TEMPLATE "{template}"')
        print(
            f"generated {args.lots:,} due lots over {args.members:,} members "
            f"in {time.monotonic() - started:.1f} s"
        )

        with psycopg.connect(server_url(baseline_db)) as conn:
            t0 = time.perf_counter()
            updated = conn.execute(BASELINE_SQL, [now]).rowcount
            conn.commit()
            baseline_seconds = time.perf_counter() - t0
        assert updated == args.lots, updated

        from django.conf import settings
        from django.db import connections

        connections["default"].close()
        settings.DATABASES["default"]["NAME"] = ours_db
        connections["default"].settings_dict["NAME"] = ours_db

        from points.services.expiry import points_expire_due

        t0 = time.perf_counter()
        run = points_expire_due(now=now, batch_size=args.batch_size)
        ours_seconds = time.perf_counter() - t0
        assert (run.lots, run.transactions) == (args.lots, args.members), run
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM points_pointlot WHERE remaining > 0")
            assert cursor.fetchone()[0] == 0
        if args.verify:
            from points.selectors import ledger_verify

            report = ledger_verify()
            assert report.ok, report.problems[:5]
            print("ledger_verify: clean")
        connections.close_all()
    finally:
        if not os.environ.get("BENCH_KEEP"):  # BENCH_KEEP=1 leaves them for EXPLAIN
            for name in (ours_db, baseline_db, template):
                drop(name)

    ours_rate, baseline_rate = args.lots / ours_seconds, args.lots / baseline_seconds
    ratio = ours_rate / baseline_rate
    print(
        f"baseline UPDATE: {baseline_seconds:.2f} s ({baseline_rate:,.0f} lots/s)\n"
        f"expire_points:   {ours_seconds:.2f} s ({ours_rate:,.0f} lots/s), "
        f"{run.transactions:,} transactions in {run.batches} batches of {args.batch_size}\n"
        f"ratio {ratio:.2f} (target >= {TARGET})"
    )
    result = [
        {
            "name": "expire_points",
            "ours": round(ours_rate, 1),
            "baseline": round(baseline_rate, 1),
            "unit": "lots/s",
            "ratio": round(ratio, 3),
            "target": TARGET,
        }
    ]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
