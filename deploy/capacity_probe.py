"""Measure the ledger's write path on this machine, for docs/scaling.md.

    .venv/bin/python deploy/capacity_probe.py --postings 4000 --processes 1 4

In a throw-away PostgreSQL database (created, migrated, dropped at the end) it posts earns
through `points.services.ledger.ledger_post` — the one write path — from 1 and from N
processes at once (each process its own members, all of them earning at one merchant, as at
a single busy chain), then seals them, and measures the bytes on disk per posting.
Prints one JSON document. Not a test and not `make bench`: a probe, run by hand.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
LEDGER_TABLES = [
    "points_ledgertransaction",
    "points_ledgerentry",
    "points_pointlot",
    "points_lotallocation",
    "points_ledgerseal",
]


def _backend_cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system) of a local PostgreSQL backend process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return None  # PostgreSQL on another host, or no /proc
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _admin(server: str):
    return psycopg.connect(f"{server}/postgres", autocommit=True)


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "false"  # DEBUG keeps every query in memory
    os.environ.pop("CELERY_BROKER_URL", None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def _create_members(count: int) -> list[int]:
    from django.contrib.auth import get_user_model

    from points.models import Account, Member

    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [user_model(username=f"probe{i}", password="!") for i in range(count)]
    )
    members = Member.objects.bulk_create(
        [Member(user=user, member_no=f"P{user.pk:011d}") for user in users]
    )
    Account.objects.bulk_create(
        [
            Account(code=f"member:{m.pk}:{kind}", kind=kind, member=m)
            for m in members
            for kind in Account.MEMBER_KINDS
        ]
    )
    return [m.pk for m in members]


def _post_earns(worker: int, member_ids: list[int], postings: int, start, results) -> None:
    """One process: `postings` earns over its own members, timed from the shared start."""
    from django.db import connection

    from merchants.models import Merchant
    from points.models import Account, LedgerTransaction
    from points.services.accounts import issuance_account
    from points.services.ledger import Posting, ledger_post

    connection.close()  # never share the parent's connection
    merchant = Merchant.objects.get(slug="probe-merchant")
    issuer = issuance_account(merchant)
    accounts = list(
        Account.objects.filter(member_id__in=member_ids, kind=Account.Kind.STANDARD).select_related(
            "member"
        )
    )
    backend = _backend_pid()
    start.wait()
    began, cpu_began = time.perf_counter(), time.process_time()
    backend_began = _backend_cpu_seconds(backend)
    for n in range(postings):
        account = accounts[n % len(accounts)]
        points = 1 + n % 300
        ledger_post(
            kind=LedgerTransaction.Kind.EARN,
            idempotency_key=f"probe-{worker}-{n}-{time.monotonic_ns()}",
            postings=[Posting(account, points), Posting(issuer, -points)],
            merchant=merchant,
            member=account.member,
            reference=f"R{worker:02d}{n:08d}",
            actor="terminal:probe",
            breakdown={"base": points},
        )
    backend_ended = _backend_cpu_seconds(backend)
    backend_cpu = None if backend_began is None else backend_ended - backend_began
    results.put(
        (postings, time.perf_counter() - began, time.process_time() - cpu_began, backend_cpu)
    )


def _run(processes: int, postings_each: int, member_ids: list[int]) -> dict:
    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(processes + 1), context.Queue()
    share = len(member_ids) // processes
    workers = [
        context.Process(
            target=_post_earns,
            args=(w, member_ids[w * share : (w + 1) * share], postings_each, start, results),
        )
        for w in range(processes)
    ]
    for process in workers:
        process.start()
    start.wait()
    began = time.perf_counter()
    finished = [results.get(timeout=3600) for _ in workers]
    wall = time.perf_counter() - began
    for process in workers:
        process.join()
    total = sum(count for count, _, _, _ in finished)
    python_cpu = sum(cpu for _, _, cpu, _ in finished)
    backend_cpus = [cpu for _, _, _, cpu in finished]
    postgres_cpu = None if None in backend_cpus else sum(backend_cpus)
    return {
        "processes": processes,
        "postings": total,
        "seconds": round(wall, 2),
        "postings_per_second": round(total / wall, 1),
        # CPU time of the Django processes alone (the app tier's cost of one posting).
        "python_cpu_ms_per_posting": round(1000 * python_cpu / total, 2),
        # CPU time of their PostgreSQL backends (the primary's cost of one posting).
        "postgres_cpu_ms_per_posting": (
            None if postgres_cpu is None else round(1000 * postgres_cpu / total, 2)
        ),
        "load_average_after": os.getloadavg()[0],
    }


def _dashboard_cost(requests: int) -> dict:
    """A member's dashboard (balances, recent history) rendered in-process, N times."""
    from django.db import connection
    from django.test import Client

    from merchants.models import Merchant
    from points.models import Account, LedgerTransaction
    from points.services.accounts import issuance_account, member_user_create
    from points.services.ledger import Posting, ledger_post

    member = member_user_create(username="probe-dashboard", password="probe-password-1")
    standard = Account.objects.get(member=member, kind=Account.Kind.STANDARD)
    issuer = issuance_account(Merchant.objects.get(slug="probe-merchant"))
    for n in range(50):
        ledger_post(
            kind=LedgerTransaction.Kind.EARN,
            idempotency_key=f"probe-dashboard-{n}",
            postings=[Posting(standard, 10), Posting(issuer, -10)],
            member=member,
        )
    client = Client(HTTP_HOST="localhost")
    client.force_login(member.user)
    assert client.get("/").status_code == 200
    backend = _backend_pid()
    backend_began = _backend_cpu_seconds(backend)
    began, cpu_began = time.perf_counter(), time.process_time()
    for _ in range(requests):
        client.get("/")
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    backend_ended = _backend_cpu_seconds(backend)
    connection.close()
    return {
        "requests": requests,
        "wall_ms_per_request": round(1000 * wall / requests, 2),
        "python_cpu_ms_per_request": round(1000 * cpu / requests, 2),
        "postgres_cpu_ms_per_request": (
            None
            if backend_began is None
            else round(1000 * (backend_ended - backend_began) / requests, 2)
        ),
    }


def _disk_per_posting(database_url: str, postings: int) -> dict:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        sizes = {
            table: conn.execute("SELECT pg_total_relation_size(%s)", [table]).fetchone()[0]
            for table in LEDGER_TABLES
        }
        rows = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in LEDGER_TABLES
        }
    return {
        "rows_per_posting": {t: round(rows[t] / postings, 2) for t in LEDGER_TABLES},
        "bytes_per_posting": {t: round(sizes[t] / postings) for t in LEDGER_TABLES},
        "bytes_per_posting_total": round(sum(sizes.values()) / postings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="jifen_capacity_probe")
    parser.add_argument("--postings", type=int, default=4000, help="per run, over all processes")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--dashboard-requests", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    args = parser.parse_args()

    database_url = f"{args.server}/{args.database}"
    with _admin(args.server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}"')
        conn.execute(f'CREATE DATABASE "{args.database}"')
        server_version = conn.execute("SHOW server_version").fetchone()[0]
    try:
        _setup_django(database_url)
        from django.core.management import call_command

        from merchants.models import Merchant
        from points.services.sealing import ledger_seal

        call_command("migrate", verbosity=0)
        Merchant.objects.create(name="Probe merchant", slug="probe-merchant")
        member_ids = _create_members(args.members)

        runs = [_run(p, args.postings // p, member_ids) for p in args.processes]
        total = sum(run["postings"] for run in runs)
        dashboard = _dashboard_cost(args.dashboard_requests) if args.dashboard_requests else None
        began = time.perf_counter()
        sealed = ledger_seal()
        seal_seconds = time.perf_counter() - began
        report = {
            "machine": {
                "cpus": os.cpu_count(),
                "processor": _cpu_model(),
                "python": platform.python_version(),
                "postgresql": server_version,
            },
            "earn_runs": runs,
            "dashboard": dashboard,
            "sealing": {
                "sealed": sealed,
                "seconds": round(seal_seconds, 2),
                "per_second": round(sealed / seal_seconds, 1),
            },
            **_disk_per_posting(database_url, total + (50 if dashboard else 0)),
        }
        print(json.dumps(report, indent=2))
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            with _admin(args.server) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
