"""The online hot paths against their physical baselines, in one throw-away database.

    python -m bench.online [--quick] [--only earn_service_1,earn_http_4,...]

* `earn_service_1`, `earn_service_4`: purchases/s through `purchase_record` (3 lines each,
  pre-created members who have bought before) from 1 or 4 client *processes*, each with its
  own connection, against `pgbench -b tpcb-like -c N -j N` on the same server and database.
* `earn_ceiling_1`, `earn_ceiling_4`: the captured purchase statement (`bench.profile_statement`)
  executed with no Python around it, from 1 or 4 processes with plain psycopg connections,
  against the same tpcb-like runs: the most `earn_service_N` could reach. Measured
  interleaved with `earn_service_N` when both run, which then also reports its ratio to it.
* `earn_http_4`: purchases/s through `POST /api/v1/purchases` served by gunicorn (4 sync
  workers), 4 connections from an asyncio (aiohttp) client, against `GET /bench/ping` (a
  trivial JSON view, bench URL conf only) on the same server.
* `redeem_contended`: redemptions/s, 8 processes on one reward, against `earn_service` at 8
  processes; then an overdraft probe (8 processes racing to overspend 8 members) that must
  leave no balance below zero and exactly the affordable redemptions.
* `exchange_day`: 8 processes of members redeeming at once on an exchange day (a monthly
  schedule for today) from a catalog of one limited reward (stock 500, 25 quick, asked for
  by 4x as many members) and three unlimited ones: redemptions/s against `earn_service` at 8
  processes, p50/p99 latency per attempt; 0 oversold and 0 overdrafts required.
* `dashboard_page`: requests/s for `/` of a member with 2,000 movements, against a view
  rendering the base layout, both logged in, same server and client as `earn_http_4`.
* `green_pdf`: green reports/s (`green_report_render`) against WeasyPrint rendering a one-line
  HTML page, in this process.

Every figure: one uncounted warm-up of each side, then ours and baseline interleaved, three
times, and the median of each. Prints one JSON list of results on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import multiprocessing
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    Result,
    client_program,
    create_schema_database,
    drop_database,
    load_average,
    log,
    median,
    migrate_schema,
    repeat,
    server_url,
)

BENCHMARKS = (
    "earn_service_1",
    "earn_ceiling_1",
    "earn_service_4",
    "earn_ceiling_4",
    "earn_http_4",
    "redeem_contended",
    "exchange_day",
    "dashboard_page",
    "green_pdf",
)
TARGETS = {
    "earn_service_1": 0.50,
    "earn_ceiling_1": None,
    "earn_service_4": 0.40,
    "earn_ceiling_4": None,
    "earn_http_4": 0.35,
    "redeem_contended": None,
    "exchange_day": None,
    "dashboard_page": 0.50,
    "green_pdf": 0.10,
}
# earn_service_N over earn_ceiling_N (issue #22): reported beside the tpcb-like ratio.
CEILING_TARGET = 0.85
DASHBOARD_MOVEMENTS = 2000
REDEEM_PRICE = 100
PROBE_AFFORDABLE = 5  # each probe member can pay for exactly this many redemptions


class Scale:
    def __init__(self, quick: bool):
        self.quick = quick
        self.seconds = 0.4 if quick else 10.0  # one repetition
        self.members = 2_000 if quick else 20_000
        self.pgbench_scale = 10
        # exchange_day: the limited reward's stock; 4x as many members ask for it
        self.exchange_stock = 25 if quick else 500


# --- Setup ---------------------------------------------------------------------------------


def setup(db: str, scale: Scale) -> dict:
    """Migrate, create the catalogue and members, give every member a past purchase."""
    os.environ["DATABASE_URL"] = server_url(db)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from bench.import_purchases import create_catalogue
    from merchants.models import Merchant, Store, Terminal
    from points.models import Member
    from points.services.imports import COLUMNS, purchases_import
    from redemption.models import Reward

    started = time.monotonic()
    migrate_schema()
    member_nos, merchants = create_catalogue(scale.members)
    now = timezone.now()
    dashboard_member_no = member_nos[0]
    with tempfile.TemporaryDirectory(prefix="jifen-bench-") as tmp:
        path = Path(tmp) / "history.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            rng = random.Random(7)
            for n, member_no in enumerate(member_nos):  # so no purchase below is a first one
                slug, _ = merchants[n % len(merchants)]
                when = (now - timedelta(days=90)).isoformat()
                writer.writerow([slug, member_no, f"S{n:08d}", when, "SKU-1", "", 1, 1000])
            for n in range(DASHBOARD_MOVEMENTS - 1):  # the dashboard member's history
                slug, _ = rng.choice(merchants)
                when = now - timedelta(minutes=60 * 24 * 60 * n // DASHBOARD_MOVEMENTS + 5)
                sku = rng.choice(["SKU-0", "SKU-1", "SKU-2"])
                writer.writerow(
                    [slug, dashboard_member_no, f"D{n:08d}", when.isoformat(), sku, "", 1, 2000]
                )
        purchases_import(path=path, progress=False, now=now)
    merchant = Merchant.objects.get(slug=merchants[0][0])
    store = Store.objects.create(merchant=merchant, code="bench", name="Bench store")
    terminal = Terminal(store=store, name="Bench till")
    raw_key = Terminal.new_key()
    terminal.set_key(raw_key)
    terminal.save()
    reward = Reward.objects.create(
        merchant=merchant,
        title="Bench mug",
        points_price=REDEEM_PRICE,
        cash_price_fen=0,
        face_value_fen=REDEEM_PRICE * 10,
        stock=None,
    )
    dashboard_member = Member.objects.get(member_no=dashboard_member_no)
    user = dashboard_member.user
    user.set_password("bench-password")
    user.save()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    log(
        f"setup: {scale.members:,} members, catalogue, history "
        f"in {time.monotonic() - started:.0f} s"
    )
    return {
        "member_nos": member_nos,
        "merchant_slugs": [slug for slug, _ in merchants],
        "terminal_key": raw_key,
        "reward_id": reward.pk,
        "dashboard_member_no": dashboard_member_no,
        "dashboard_username": user.username,
    }


# --- Multi-process rate measurement --------------------------------------------------------


def _close_connections() -> None:
    from django.db import connections

    connections.close_all()


def _warm_worker(_index: int) -> int:
    from django.db import connection

    connection.ensure_connection()
    return os.getpid()


class ProcessClients:
    """N forked client processes, each with its own database connection, kept across runs."""

    def __init__(self, processes: int):
        _close_connections()  # never share the parent's socket with children
        self.processes = processes
        self.pool = multiprocessing.get_context("fork").Pool(processes)
        self.pool.map(_warm_worker, range(processes))

    def rate(self, work, seconds: float, payload: dict) -> float:
        """Operations per second of `work(payload, index, start_at, stop_at)` in all processes."""
        start_at = time.time() + 0.1
        stop_at = start_at + seconds
        counts = self.pool.starmap(
            work, [(payload, i, start_at, stop_at) for i in range(self.processes)]
        )
        return sum(counts) / seconds

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


_process_cache: dict = {}


def _members(member_nos: list[str]):
    """Members and merchants, loaded once per client process (not timed)."""
    from merchants.models import Merchant
    from points.models import Member

    key = ("members", len(member_nos))
    if key not in _process_cache:
        members = list(Member.objects.select_related("user").filter(member_no__in=member_nos))
        _process_cache[key] = members
        _process_cache["merchants"] = list(Merchant.objects.all())
    return _process_cache[key], _process_cache["merchants"]


def _wait_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


def earn_work(payload: dict, index: int, start_at: float, stop_at: float) -> int:
    """Record purchases of 3 lines for random pre-created members until `stop_at`."""
    from django.utils import timezone

    from points.services.purchases import LineRequest, purchase_record

    members, merchants = _members(payload["member_nos"])
    rng = random.Random(f"{payload['run']}:{index}")
    lines = [
        LineRequest(line_no=1, quantity=1, amount_fen=1290, sku="SKU-0"),
        LineRequest(line_no=2, quantity=2, amount_fen=4500, sku="SKU-2"),
        LineRequest(line_no=3, quantity=1, amount_fen=880, category="pens"),
    ]
    _wait_until(start_at)
    done = 0
    while time.time() < stop_at:
        purchase_record(
            merchant=rng.choice(merchants),
            member=rng.choice(members),
            receipt_no=f"E{payload['run']}-{index}-{done}",
            occurred_at=timezone.now(),
            lines=lines,
            actor="bench",
        )
        done += 1
    return done


def ceiling_work(payload: dict, index: int, start_at: float, stop_at: float) -> int:
    """Execute the captured purchase statements (set before the pool forked) on a plain
    psycopg connection of this process, a fresh receipt number each time, until `stop_at`."""
    import psycopg

    from bench.profile_statement import RECEIPT

    conn = _process_cache.get("ceiling_connection")
    if conn is None:
        conn = psycopg.connect(server_url(payload["db"]), autocommit=True, prepare_threshold=0)
        _process_cache["ceiling_connection"] = conn
    statements = _process_cache["ceiling_statements"]
    rng = random.Random(f"{payload['run']}:{index}")
    _wait_until(start_at)
    done = 0
    while time.time() < stop_at:
        sql, params = rng.choice(statements)
        receipt = f"C{payload['run']}-{index}-{done}"
        fresh = [p.replace(RECEIPT, receipt) if isinstance(p, str) else p for p in params]
        if conn.execute(sql, fresh).fetchone()[1] is None:
            raise RuntimeError("the purchase statement wrote nothing: the ceiling would be void")
        done += 1
    return done


def redeem_work(payload: dict, index: int, start_at: float, stop_at: float) -> int:
    """Redeem one unit of the one reward for random funded members until `stop_at`."""
    from points.models import Member
    from redemption.models import Reward
    from redemption.services.redemptions import reward_redeem

    members = list(Member.objects.filter(member_no__in=payload["member_nos"]))
    reward = Reward.objects.get(pk=payload["reward_id"])
    rng = random.Random(f"{payload['run']}:{index}")
    _wait_until(start_at)
    done = 0
    while time.time() < stop_at:
        reward_redeem(
            member=rng.choice(members),
            reward=reward,
            quantity=1,
            idempotency_key=f"R{payload['run']}-{index}-{done}",
        )
        done += 1
    return done


def overdraft_probe_work(payload: dict, index: int, start_at: float, stop_at: float) -> int:
    """Try to overspend every probe member: returns how many redemptions went through."""
    from points.models import Member
    from redemption.models import Reward
    from redemption.services.errors import RedemptionError
    from redemption.services.redemptions import reward_redeem

    members = list(Member.objects.filter(member_no__in=payload["member_nos"]))
    reward = Reward.objects.get(pk=payload["reward_id"])
    _wait_until(start_at)
    succeeded = 0
    for attempt in range(PROBE_AFFORDABLE * 3):
        for member in members:
            try:
                reward_redeem(
                    member=member,
                    reward=reward,
                    quantity=1,
                    idempotency_key=f"probe-{index}-{attempt}",
                )
                succeeded += 1
            except RedemptionError:
                pass
    return succeeded


def fund(member_nos: list[str], points: int) -> None:
    """Credit `points` to each member's standard account the way staff do: an adjustment
    requested by one staff user and approved by another, so the closing `ledger_verify`
    finds the approved request behind every `adjust` transaction."""
    from django.contrib.auth import get_user_model

    from points.models import Member
    from points.services.adjustments import adjustment_approve, adjustment_request

    User = get_user_model()
    requester, _ = User.objects.get_or_create(
        username="bench-staff-1", defaults={"is_staff": True, "is_superuser": True}
    )
    approver, _ = User.objects.get_or_create(
        username="bench-staff-2", defaults={"is_staff": True, "is_superuser": True}
    )
    for member in Member.objects.filter(member_no__in=member_nos):
        request = adjustment_request(
            member=member, points=points, reason="bench funding", requested_by=requester
        )
        if request.status == request.Status.PENDING:
            adjustment_approve(adjustment=request, approved_by=approver)


# --- pgbench -------------------------------------------------------------------------------


def pgbench_init(db: str, scale: int) -> None:
    subprocess.run(
        [client_program("pgbench"), "-i", "-q", "-s", str(scale), server_url(db)],
        check=True,
        capture_output=True,
    )


def pgbench_tps(db: str, clients: int, seconds: float, expected_tps: float | None = None) -> float:
    """tpcb-like's tps over about `seconds`: `-T` counts whole seconds only, so under one
    second, with a rate known from an earlier run, a number of transactions (`-t`) that
    takes about that long."""
    if seconds < 1 and expected_tps:
        length = ["-t", str(max(20, round(expected_tps * seconds / clients)))]
    else:
        length = ["-T", str(max(1, round(seconds)))]
    out = subprocess.run(
        [
            client_program("pgbench"),
            "-b",
            "tpcb-like",
            "-n",
            "-c",
            str(clients),
            "-j",
            str(clients),
            *length,
            server_url(db),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    if match is None:
        raise RuntimeError(f"cannot read pgbench's tps from: {out}")
    return float(match.group(1))


# --- HTTP ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn serving the product (bench settings), 4 sync workers, on a free port."""

    def __init__(self, db: str, workers: int = 4):
        self.port = free_port()
        env = dict(os.environ, DATABASE_URL=server_url(db), DJANGO_SETTINGS_MODULE="bench.settings")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--preload",
            ],
            cwd=ROOT,
            env=env,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("gunicorn exited at start") from None
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start in 60 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def http_rate(make_request, seconds: float, connections: int = 4, latencies=None) -> float:
    """Requests/s that succeed, `connections` concurrent loops of `make_request(n)` ->
    (method, url, headers, body, expected status). Each request's seconds are appended to
    `latencies` when given."""
    import aiohttp

    async def run() -> int:
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            stop_at = time.monotonic() + seconds
            counter = iter(range(10**9))

            async def loop() -> int:
                done = 0
                while time.monotonic() < stop_at:
                    method, url, headers, body, expected = make_request(next(counter))
                    began = time.perf_counter()
                    async with session.request(method, url, headers=headers, data=body) as resp:
                        await resp.read()
                        if resp.status != expected:
                            raise RuntimeError(f"{url}: HTTP {resp.status}, expected {expected}")
                    if latencies is not None:
                        latencies.append(time.perf_counter() - began)
                    done += 1
                return done

            return sum(await asyncio.gather(*(loop() for _ in range(connections))))

    return asyncio.run(run()) / seconds


# --- The benchmarks ------------------------------------------------------------------------


def interleaved(measures: dict, repetitions: int = 3) -> tuple[dict, dict]:
    """Like `bench.common.repeat` for any number of sides: one uncounted warm-up of each,
    then every side in turn, `repetitions` times; the median of each side and every run."""
    for measure in measures.values():
        measure()
    runs: dict = {name: [] for name in measures}
    for _ in range(repetitions):
        for name, measure in measures.items():
            runs[name].append(measure())
    medians = {name: median(values) for name, values in runs.items()}
    return medians, {name: [round(x, 2) for x in values] for name, values in runs.items()}


def earn_service(data: dict, db: str, scale: Scale, processes: int, wanted) -> list[Result]:
    """`earn_service_N` and/or `earn_ceiling_N`, interleaved with the same tpcb-like runs."""
    service = f"earn_service_{processes}" in wanted
    ceiling = f"earn_ceiling_{processes}" in wanted
    if ceiling and "ceiling_statements" not in _process_cache:
        from bench.profile_statement import capture

        _process_cache["ceiling_statements"] = capture(data)  # inherited by the forked pool
    clients = ProcessClients(processes)
    runs = iter(range(1000))
    last_tps: list[float] = []

    def measure_pgbench() -> float:
        last_tps.append(pgbench_tps(db, processes, scale.seconds, (last_tps or [None])[-1]))
        return last_tps[-1]

    measures = {}
    if service:
        measures["ours"] = lambda: clients.rate(
            earn_work,
            scale.seconds,
            {"member_nos": data["member_nos"], "run": f"s{processes}-{next(runs)}"},
        )
    measures["baseline"] = measure_pgbench
    if ceiling:
        measures["ceiling"] = lambda: clients.rate(
            ceiling_work, scale.seconds, {"db": db, "run": f"c{processes}-{next(runs)}"}
        )
    try:
        medians, detail = interleaved(measures)
    finally:
        clients.pool.map(_close_ceiling_connection, range(processes))
        clients.close()
    results = []
    if service:
        notes = {}
        if ceiling:
            notes = {
                "of_ceiling": round(medians["ours"] / medians["ceiling"], 3),
                "ceiling_target": CEILING_TARGET,
            }
        results.append(
            Result(
                name=f"earn_service_{processes}",
                ours=medians["ours"],
                baseline=medians["baseline"],
                unit="purchases/s vs tpcb tps",
                target=TARGETS[f"earn_service_{processes}"],
                runs=detail,
                notes=notes,
            )
        )
    if ceiling:
        results.append(
            Result(
                name=f"earn_ceiling_{processes}",
                ours=medians["ceiling"],
                baseline=medians["baseline"],
                unit="statement alone/s vs tpcb tps",
                target=TARGETS[f"earn_ceiling_{processes}"],
                runs=detail,
                notes={"statements": "a repeat purchase, captured from purchase_record"},
            )
        )
    return results


def _close_ceiling_connection(_index: int) -> None:
    conn = _process_cache.pop("ceiling_connection", None)
    if conn is not None:
        conn.close()


def purchase_request_body(member_no: str, receipt_no: str) -> str:
    """The JSON body of `POST /api/v1/purchases` the HTTP benchmark sends: 3 lines."""
    return json.dumps(
        {
            "member_no": member_no,
            "receipt_no": receipt_no,
            "occurred_at": "2026-01-15T10:00:00+08:00",
            "lines": [
                {"line_no": 1, "quantity": 1, "amount_fen": 1290, "sku": "SKU-0"},
                {"line_no": 2, "quantity": 2, "amount_fen": 4500, "sku": "SKU-2"},
                {"line_no": 3, "quantity": 1, "amount_fen": 880, "category": "pens"},
            ],
        }
    )


def percentiles_ms(latencies: list[float]) -> dict:
    """p50 and p99 of request latencies (seconds), in milliseconds."""
    if not latencies:
        return {}
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]
    return {
        "p50_ms": round(1000 * ordered[len(ordered) // 2], 1),
        "p99_ms": round(1000 * p99, 1),
        "requests_timed": len(ordered),
    }


def earn_http(data: dict, server: Server, scale: Scale) -> Result:
    run_ids = iter(range(1000))
    timed: list[float] = []
    members = data["member_nos"]
    auth = {"Authorization": f"Bearer {data['terminal_key']}", "Content-Type": "application/json"}

    def measure_ours() -> float:
        run = next(run_ids)
        rng = random.Random(run)

        def request(n: int):
            body = purchase_request_body(rng.choice(members), f"H{run}-{n}")
            headers = dict(auth, **{"Idempotency-Key": f"H{run}-{n}"})
            return "POST", f"{server.base}/api/v1/purchases", headers, body, 201

        # the warm-up (run 0) is not timed
        return http_rate(request, scale.seconds, latencies=timed if run else None)

    def measure_baseline() -> float:
        return http_rate(
            lambda n: ("GET", f"{server.base}/bench/ping", {}, None, 200), scale.seconds
        )

    ours, baseline, detail = repeat(measure_ours, measure_baseline)
    return Result(
        name="earn_http_4",
        ours=ours,
        baseline=baseline,
        unit="requests/s",
        target=TARGETS["earn_http_4"],
        runs=detail,
        notes=percentiles_ms(timed),
    )


def login_cookie(server: Server, username: str) -> dict:
    """Log in through the product's login page once; the session cookie for both sides."""
    import aiohttp

    async def run() -> dict:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            async with session.get(f"{server.base}/accounts/login/") as resp:
                page = await resp.text()
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
            async with session.post(
                f"{server.base}/accounts/login/",
                data={
                    "username": username,
                    "password": "bench-password",
                    "csrfmiddlewaretoken": token,
                },
                headers={"Referer": f"{server.base}/accounts/login/"},
                allow_redirects=False,
            ) as resp:
                if resp.status != 302:
                    raise RuntimeError(f"login failed: HTTP {resp.status}")
            cookies = {c.key: c.value for c in jar}
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}

    return asyncio.run(run())


def dashboard_page(data: dict, server: Server, scale: Scale) -> Result:
    headers = login_cookie(server, data["dashboard_username"])
    timed: list[list[float]] = []

    def measure_ours() -> float:
        timed.append([])
        return http_rate(
            lambda n: ("GET", f"{server.base}/", headers, None, 200),
            scale.seconds,
            latencies=timed[-1],
        )

    ours, baseline, detail = repeat(
        measure_ours,
        lambda: http_rate(
            lambda n: ("GET", f"{server.base}/bench/layout", headers, None, 200), scale.seconds
        ),
    )
    return Result(
        name="dashboard_page",
        ours=ours,
        baseline=baseline,
        unit="requests/s",
        target=TARGETS["dashboard_page"],
        runs=detail,
        notes={
            "movements": DASHBOARD_MOVEMENTS,
            **percentiles_ms([lat for run in timed[1:] for lat in run]),  # not the warm-up
        },
    )


def redeem_contended(data: dict, db: str, scale: Scale) -> Result:
    from django.db.models import Count

    from points.models import Account
    from points.selectors import spendable_balance
    from redemption.models import Redemption

    redeemers = data["member_nos"][1:201]
    probe = data["member_nos"][201:209]
    fund(redeemers, 10_000_000)
    fund(probe, REDEEM_PRICE * PROBE_AFFORDABLE)
    clients = ProcessClients(8)
    runs = iter(range(1000))
    try:
        ours, baseline, detail = repeat(
            lambda: clients.rate(
                redeem_work,
                scale.seconds,
                {"member_nos": redeemers, "reward_id": data["reward_id"], "run": next(runs)},
            ),
            lambda: clients.rate(
                earn_work,
                scale.seconds,
                {"member_nos": data["member_nos"], "run": f"r8-{next(runs)}"},
            ),
        )
        # Earlier benchmarks may have credited the probe members too: count what they can
        # afford now, then let 8 processes race to spend twice that.
        affordable = {
            account.member_id: spendable_balance(account) // REDEEM_PRICE
            for account in Account.objects.filter(
                member__member_no__in=probe, kind=Account.Kind.STANDARD
            )
        }
        start_at = time.time() + 0.1
        succeeded = sum(
            clients.pool.starmap(
                overdraft_probe_work,
                [
                    ({"member_nos": probe, "reward_id": data["reward_id"]}, i, start_at, 0)
                    for i in range(8)
                ],
            )
        )
    finally:
        clients.close()
    negative = Account.objects.filter(member__member_no__in=probe, balance__lt=0).count()
    spent = dict(
        Redemption.objects.filter(member__member_no__in=probe)
        .values_list("member_id")
        .annotate(n=Count("id"))
    )
    overspent = sum(max(0, spent.get(m, 0) - n) for m, n in affordable.items())
    overdrafts = negative + overspent
    ok = overdrafts == 0 and spent == affordable and succeeded == sum(affordable.values())
    return Result(
        name="redeem_contended",
        ours=ours,
        baseline=baseline,
        unit="redemptions/s vs earns/s (8 procs)",
        target=None,
        runs=detail,
        notes={
            "overdrafts": overdrafts,
            "probe": f"8 processes raced for {len(probe)} members: {succeeded} redemptions "
            f"went through, {sum(affordable.values())} affordable",
        },
        passed=ok,
    )


EXCHANGE_PRICE = 100


def exchange_work(payload: dict, index: int, start_at: float, _stop_at: float) -> dict:
    """This process's share of an exchange day's attempts: (member_no, reward id) pairs, one
    unit each. Returns what went through, what was out of stock, each attempt's latency."""
    from points.models import Member
    from redemption.models import Reward
    from redemption.services.errors import OutOfStock
    from redemption.services.redemptions import reward_redeem

    key = ("exchange", tuple(payload["reward_ids"]))
    if key not in _process_cache:
        members = Member.objects.filter(member_no__in=payload["member_nos"])
        _process_cache[key] = (
            {member.member_no: member for member in members},
            {reward.pk: reward for reward in Reward.objects.filter(pk__in=payload["reward_ids"])},
        )
    members, rewards = _process_cache[key]
    _wait_until(start_at)
    ok = out_of_stock = 0
    latencies = []
    for n, (member_no, reward_id) in enumerate(payload["attempts"][index]):
        began = time.perf_counter()
        try:
            reward_redeem(
                member=members[member_no],
                reward=rewards[reward_id],
                quantity=1,
                idempotency_key=f"X{payload['run']}-{index}-{n}",
            )
            ok += 1
        except OutOfStock:
            out_of_stock += 1
        latencies.append(time.perf_counter() - began)
    return {"ok": ok, "out_of_stock": out_of_stock, "latencies": latencies, "at": time.time()}


def exchange_day(data: dict, db: str, scale: Scale) -> Result:
    """8 processes, an exchange day's rush: 4x as many members as units ask for the limited
    reward (each once), as many attempts again go to three unlimited rewards; redemptions/s
    against earns/s at 8 processes; 0 oversold and 0 overdrafts required."""
    from django.utils import timezone

    from points.models import Account
    from redemption.models import PriceSchedule, Redemption, Reward

    stock = scale.exchange_stock
    fans = data["member_nos"][300 : 300 + 4 * stock]
    fund(fans, 10_000_000)
    merchant_id = Reward.objects.get(pk=data["reward_id"]).merchant_id
    limited = Reward.objects.create(
        merchant_id=merchant_id,
        title="Exchange-day limited",
        points_price=EXCHANGE_PRICE,
        face_value_fen=EXCHANGE_PRICE * 10,
        stock=stock,
    )
    unlimited = [
        Reward.objects.create(
            merchant_id=merchant_id,
            title=f"Exchange-day unlimited {n}",
            points_price=EXCHANGE_PRICE * (n + 1),
            face_value_fen=EXCHANGE_PRICE * (n + 1) * 10,
            stock=None,
        )
        for n in range(3)
    ]
    schedule = PriceSchedule.objects.create(
        merchant_id=merchant_id,
        name="积分兑换日",
        kind=PriceSchedule.Kind.EXCHANGE_DAY,
        percent_off=20,
        day_of_month=timezone.localdate().day,
    )
    reward_ids = [limited.pk, *(reward.pk for reward in unlimited)]
    clients = ProcessClients(8)
    runs = iter(range(1000))
    latencies: list[float] = []
    checks = {"oversold": 0, "unsold": 0, "attempts": 0}

    def measure_ours() -> float:
        run = next(runs)
        Reward.objects.filter(pk=limited.pk).update(stock=stock)
        rng = random.Random(run)
        attempts = [(member_no, limited.pk) for member_no in fans]
        attempts += [(rng.choice(fans), rng.choice(unlimited).pk) for _ in fans]
        rng.shuffle(attempts)
        shares = [attempts[i::8] for i in range(8)]
        payload = {"member_nos": fans, "reward_ids": reward_ids, "attempts": shares, "run": run}
        start_at = time.time() + 0.1
        outcomes = clients.pool.starmap(
            exchange_work, [(payload, i, start_at, 0) for i in range(8)]
        )
        elapsed = max(outcome["at"] for outcome in outcomes) - start_at
        taken = Redemption.objects.filter(
            reward=limited, idempotency_key__startswith=f"X{run}-"
        ).count()
        left = Reward.objects.get(pk=limited.pk).stock
        checks["oversold"] += max(0, taken - stock) + abs(stock - taken - left)
        checks["unsold"] += left
        if run:  # the warm-up is not counted
            latencies.extend(lat for outcome in outcomes for lat in outcome["latencies"])
            checks["attempts"] += len(attempts)
        return sum(outcome["ok"] for outcome in outcomes) / elapsed

    try:
        ours, baseline, detail = repeat(
            measure_ours,
            lambda: clients.rate(
                earn_work,
                scale.seconds,
                {"member_nos": data["member_nos"], "run": f"x8-{next(runs)}"},
            ),
        )
    finally:
        clients.close()
    negative = Account.objects.filter(member__member_no__in=fans, balance__lt=0).count()
    discounted = Redemption.objects.filter(reward_id__in=reward_ids, schedule=schedule).count()
    total = Redemption.objects.filter(reward_id__in=reward_ids).count()
    latencies.sort()
    notes = {
        "oversold": checks["oversold"],
        "overdrafts": negative,
        "units_left_unsold": checks["unsold"],
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)], 1),
        "limited_stock": stock,
        "attempts_per_repetition": 8 * stock,
        "at_exchange_day_price": f"{discounted} of {total}",
    }
    return Result(
        name="exchange_day",
        ours=ours,
        baseline=baseline,
        unit="redemptions/s vs earns/s (8 procs)",
        target=None,
        runs=detail,
        notes=notes,
        passed=checks["oversold"] == 0 and negative == 0 and discounted == total,
    )


def green_pdf(data: dict, scale: Scale) -> Result:
    from points.models import Member
    from reports.periods import previous_month
    from reports.services.green import green_report_render, render_pdf

    member = Member.objects.get(member_no=data["dashboard_member_no"])
    period = previous_month()

    def loop(render) -> float:
        started = time.perf_counter()
        done = 0
        while time.perf_counter() - started < scale.seconds or done == 0:
            render()
            done += 1
        return done / (time.perf_counter() - started)

    ours, baseline, detail = repeat(
        lambda: loop(lambda: green_report_render(member=member, period=period)),
        lambda: loop(lambda: render_pdf("<p>积分</p>")),
    )
    return Result(
        name="green_pdf",
        ours=ours,
        baseline=baseline,
        unit="reports/s",
        target=TARGETS["green_pdf"],
        runs=detail,
    )


def measure(*, quick: bool, only: list[str]) -> list[Result]:
    """Set up one database and run the wanted benchmarks on it, in the table's order."""
    wanted = [name for name in only if name in BENCHMARKS]
    scale = Scale(quick)
    db = f"jifen_bench_online_{os.getpid()}"
    create_schema_database(db)
    results: list[Result] = []
    server = None
    try:
        data = setup(db, scale)
        earn_rows = {"earn_service_1", "earn_service_4", "earn_ceiling_1", "earn_ceiling_4"}
        if earn_rows & set(wanted):
            pgbench_init(db, scale.pgbench_scale)
        for processes in (1, 4):
            if {f"earn_service_{processes}", f"earn_ceiling_{processes}"} & set(wanted):
                for result in earn_service(data, db, scale, processes, wanted):
                    results.append(result)
                    log(f"{result.name}: ratio {result.ratio} (load {load_average()})")
        if "redeem_contended" in wanted:
            results.append(redeem_contended(data, db, scale))
            log(f"redeem_contended: ratio {results[-1].ratio} (load {load_average()})")
        if "exchange_day" in wanted:
            results.append(exchange_day(data, db, scale))
            log(f"exchange_day: ratio {results[-1].ratio} (load {load_average()})")
        if {"earn_http_4", "dashboard_page"} & set(wanted):
            _close_connections()
            server = Server(db)
            if "earn_http_4" in wanted:
                results.append(earn_http(data, server, scale))
                log(f"earn_http_4: ratio {results[-1].ratio} (load {load_average()})")
            if "dashboard_page" in wanted:
                results.append(dashboard_page(data, server, scale))
                log(f"dashboard_page: ratio {results[-1].ratio} (load {load_average()})")
            server.stop()
            server = None
        if "green_pdf" in wanted:
            results.append(green_pdf(data, scale))
            log(f"green_pdf: ratio {results[-1].ratio} (load {load_average()})")
        from points.selectors import ledger_verify

        report = ledger_verify()
        if not report.ok:
            raise SystemExit(
                "ledger_verify failed after the online benchmarks: " + report.problems[0]
            )
    finally:
        if server is not None:
            server.stop()
        try:
            _close_connections()
        except Exception:  # noqa: BLE001 - Django may not be set up
            pass
        drop_database(db)
    for result in results:
        result.notes.setdefault("load_average", load_average())
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    args = parser.parse_args()
    results = measure(quick=args.quick, only=args.only.split(","))
    print(json.dumps([r.as_json() for r in results], ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
