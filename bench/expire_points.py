"""Benchmark: the expiry job against a plain UPDATE of the same lots.

    python bench/expire_points.py [--lots 1000000 --members 100000 --batch-size 1000]

Creates a throw-away PostgreSQL database (jifen_bench_expiry_<pid>) on the server of
DATABASE_URL (or BENCH_DATABASE_URL), migrates it and
generates the lots with set-based SQL (generate_series): every lot is an `earn` transaction
with its two entries, already past its expiry date, spread evenly over the members. Per
repetition (an uncounted warm-up, then 3; the medians count), two identical copies are made
from it; on one a plain

    UPDATE points_pointlot SET remaining = 0 WHERE remaining > 0 AND expires_at <= now

is timed (the least any expiry can do), on the other `points_expire_due` (one expire
transaction per member with its entries, an allocation per lot, the lots emptied, the
cached balances updated, in batches). Both rates are lots per second; the result is written
to bench/results/expire_points.json. All the databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
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

TARGET = 0.2


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


def measure(
    *, lots: int, members: int, batch_size: int = 1000, repetitions: int = 3, verify: bool = False
) -> Result:
    """Generate the lots once; per repetition, time both sides on two fresh copies of them.

    The first repetition is a warm-up and is not counted; the medians of the rest count."""
    template = f"jifen_bench_expiry_{os.getpid()}"
    os.environ["DATABASE_URL"] = server_url(template)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.pop("CELERY_BROKER_URL", None)  # eager: the bench needs no worker
    create_schema_database(template)
    copies: list[str] = []
    ours, baseline = [], []
    try:
        import django

        django.setup()
        import psycopg
        from django.db import connection, connections
        from django.utils import timezone

        from points.services import accounts
        from points.services.accounts import expiry_account, issuance_account
        from points.services.expiry import points_expire_due

        started = time.monotonic()
        migrate_schema()
        now = timezone.now()
        issuer = issuance_account()
        expiry_account()
        params = {"lots": lots, "members": members, "now": now, "issuer": issuer.pk}
        with connection.cursor() as cursor:
            for statement in GENERATE:
                cursor.execute(statement, params)
        connection.close()
        with psycopg.connect(server_url(template), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        log(
            f"expire_points: generated {lots:,} due lots over {members:,} members "
            f"in {time.monotonic() - started:.1f} s"
        )

        for repetition in range(repetitions + 1):
            ours_db, baseline_db = f"{template}_ours{repetition}", f"{template}_base{repetition}"
            for name in (ours_db, baseline_db):
                create_database(name, template=template)
                copies.append(name)
            with psycopg.connect(server_url(baseline_db)) as conn:
                t0 = time.perf_counter()
                updated = conn.execute(BASELINE_SQL, [now]).rowcount
                conn.commit()
                baseline_seconds = time.perf_counter() - t0
            assert updated == lots, updated

            connections["default"].close()
            connections["default"].settings_dict["NAME"] = ours_db
            accounts._committed_system_accounts.clear()  # same ids in every copy, but be sure
            t0 = time.perf_counter()
            run = points_expire_due(now=now, batch_size=batch_size)
            ours_seconds = time.perf_counter() - t0
            assert (run.lots, run.transactions) == (lots, members), run
            with connection.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM points_pointlot WHERE remaining > 0")
                assert cursor.fetchone()[0] == 0
            if verify and repetition == 1:
                from points.selectors import ledger_verify

                report = ledger_verify()
                assert report.ok, report.problems[:5]
                log("expire_points: ledger_verify clean")
            connections.close_all()
            for name in (ours_db, baseline_db):
                drop_database(name)
                copies.remove(name)
            if repetition == 0:
                continue
            ours.append(lots / ours_seconds)
            baseline.append(lots / baseline_seconds)
            log(
                f"expire_points {repetition}/{repetitions}: UPDATE {baseline_seconds:.2f} s, "
                f"points_expire_due {ours_seconds:.2f} s ({run.batches} batches)"
            )
    finally:
        if not os.environ.get("BENCH_KEEP"):  # BENCH_KEEP=1 leaves them for EXPLAIN
            for name in (*copies, template):
                drop_database(name)
    return Result(
        name="expire_points",
        ours=median(ours),
        baseline=median(baseline),
        unit="lots/s",
        target=TARGET,
        runs={"ours": [round(x, 1) for x in ours], "baseline": [round(x, 1) for x in baseline]},
        notes={"lots": lots, "members": members, "batch_size": batch_size},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--verify", action="store_true", help="run ledger_verify afterwards")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "expire_points.json"))
    args = parser.parse_args()
    if args.lots < args.members:
        parser.error("--lots must be at least --members")
    result = measure(
        lots=args.lots,
        members=args.members,
        batch_size=args.batch_size,
        repetitions=args.repetitions,
        verify=args.verify,
    )
    print(
        f"baseline UPDATE: {result.baseline:,.0f} lots/s\n"
        f"expire_points:   {result.ours:,.0f} lots/s (medians of {args.repetitions})\n"
        f"ratio {result.ratio:.2f} (target >= {TARGET})"
    )
    write_results([result], Path(args.output))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
