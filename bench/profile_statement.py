"""The earn path's database ceiling: its one statement with no Python around it.

    python -m bench.profile_statement [--seconds 5] [--clients 1,4] [--set NAME=VALUE ...]

Sets up the online benchmarks' throw-away database (quick size) and records one purchase
through `purchase_record` for each of 200 members, each in a transaction that is rolled
back, to capture the one statement a repeat purchase is (SQL and parameters, as the service
sends them). Then N client processes, each with a plain psycopg connection (prepared
statements, autocommit: as the service runs it), execute those statements for `--seconds`,
a fresh receipt number each time; and `pgbench -b tpcb-like` runs with the same N clients.

Executions/s over tpcb's tps is what `earn_service_N` would reach if the service's Python
cost nothing: the most that work on the Python side can buy. What is left is the work of the
statement itself (the rows and index entries a purchase writes, its foreign-key checks).
`--set` changes a setting in the statement's sessions only (pgbench keeps the server's), to
see what a part of the work costs: `session_replication_role=replica` skips the foreign-key
checks, `synchronous_commit=off` the wait for the commit's WAL flush. Diagnostics, never a
way to run the product. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import online  # noqa: E402
from bench.common import median, online_database, server_url  # noqa: E402

RECEIPT = "CEILING-RECEIPT"  # replaced by a fresh receipt number in every execution


def capture(data: dict, members: int = 200) -> list[tuple[str, list]]:
    """(sql, params) of one repeat purchase for each of `members` members, none kept."""
    from django.db import connection, transaction
    from django.utils import timezone

    from merchants.models import Merchant
    from points.models import Member
    from points.services.purchases import LineRequest, purchase_record

    merchants = list(Merchant.objects.all())
    lines = [
        LineRequest(line_no=1, quantity=1, amount_fen=1290, sku="SKU-0"),
        LineRequest(line_no=2, quantity=2, amount_fen=4500, sku="SKU-2"),
        LineRequest(line_no=3, quantity=1, amount_fen=880, category="pens"),
    ]
    statements = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, list(params)))
        return execute(sql, params, many, context)

    rng = random.Random(7)
    chosen = Member.objects.select_related("user").filter(member_no__in=data["member_nos"])
    for member in chosen[:members]:
        with transaction.atomic(), connection.execute_wrapper(keep):
            purchase_record(
                merchant=rng.choice(merchants),
                member=member,
                receipt_no=RECEIPT,
                occurred_at=timezone.now(),
                lines=lines,
                actor="bench",
            )
            transaction.set_rollback(True)
    one = [s for s in statements if "points_purchaseline" in s[0]]
    if len(one) != members or len({sql for sql, _ in one}) != 1:
        raise SystemExit("a repeat purchase was not one statement: nothing to measure")
    return one


def execute_work(
    db: str, statements: list, settings: list, index: int, start_at: float, stop_at: float
) -> int:
    import psycopg

    with psycopg.connect(server_url(db), autocommit=True, prepare_threshold=0) as conn:
        for name, value in settings:
            conn.execute("SELECT set_config(%s, %s, false)", [name, value])
        rng = random.Random(index)
        done = 0
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < stop_at:
            sql, params = rng.choice(statements)
            receipt = f"C{index}-{done}-{start_at}"
            fresh = [p.replace(RECEIPT, receipt) if isinstance(p, str) else p for p in params]
            _, txn_id, *_ = conn.execute(sql, fresh).fetchone()
            written = txn_id is not None
            if not written:
                raise SystemExit("the statement wrote nothing: the measurement would be void")
            done += 1
    return done


def rate(db: str, statements: list, settings: list, clients: int, seconds: float) -> float:
    start_at = time.time() + 0.5
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        counts = pool.starmap(
            execute_work,
            [(db, statements, settings, i, start_at, start_at + seconds) for i in range(clients)],
        )
    return sum(counts) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", default="1,4")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    settings = [tuple(item.split("=", 1)) for item in args.set]
    if any(len(pair) != 2 for pair in settings):
        parser.error("--set takes NAME=VALUE")
    with online_database("statement") as data:
        from django.db import connection

        statements = capture(data)
        db = connection.settings_dict["NAME"]
        online.pgbench_init(db, online.Scale(quick=True).pgbench_scale)
        connection.close()
        print("clients | statement alone/s | tpcb tps | ratio (the ceiling of earn_service_N)")
        for clients in [int(n) for n in args.clients.split(",")]:
            ours, tpcb = [], []
            for _ in range(3):
                ours.append(rate(db, statements, settings, clients, args.seconds))
                tpcb.append(online.pgbench_tps(db, clients, args.seconds))
            print(
                f"{clients:7d} | {median(ours):17,.0f} | {median(tpcb):8,.0f} | "
                f"{median(ours) / median(tpcb):.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
