"""What every benchmark shares: the PostgreSQL server, throw-away databases, medians, results.

The server is the one of DATABASE_URL (BENCH_DATABASE_URL wins when set); benchmarks create
databases named `jifen_bench_<what>_<pid>` on it and always drop them.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def server_base() -> str:
    """The PostgreSQL server to benchmark against, as a URL naming its `postgres` database:
    BENCH_DATABASE_URL's or DATABASE_URL's, else the embedded server of this checkout."""
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
    if not url.startswith(("postgres://", "postgresql://")):
        from config.embedded_db import database_url

        url = database_url("postgres")
    return server_url("postgres", url)


def server_url(database: str, base: str | None = None) -> str:
    """`base` (the benchmarked server) naming `database`; a socket directory (`?host=`) is kept."""
    parts = urlsplit(base or server_base())
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def client_program(name: str) -> str:
    """pgbench or psql of the server's own version: the embedded wheel's for the embedded
    server (its socket is under var/), else the one on PATH."""
    from config.embedded_db import VAR_DIR, bin_path

    query = parse_qs(urlsplit(server_base()).query)
    host = (query.get("host") or [""])[0]
    if host.startswith("/") and Path(host).resolve().is_relative_to(VAR_DIR.resolve()):
        return str(bin_path(name))
    return name


def admin(sql: str) -> None:
    """Run one statement on the server's `postgres` database, in autocommit."""
    import psycopg

    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(sql)


def create_database(name: str, template: str | None = None) -> None:
    admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


# Set by `bench.run` for its children: a database it has migrated once, which each
# benchmark copies (CREATE DATABASE ... TEMPLATE: a file copy) instead of migrating its own.
SCHEMA_TEMPLATE_ENV = "BENCH_SCHEMA_TEMPLATE"


def create_schema_database(name: str) -> None:
    """Create `name` for a benchmark: a copy of the run's migrated schema when there is one
    (then `migrate_schema` does nothing), else empty."""
    create_database(name, template=os.environ.get(SCHEMA_TEMPLATE_ENV))


def migrate_schema() -> None:
    """Migrate Django's database, unless `create_schema_database` copied a migrated one."""
    if not os.environ.get(SCHEMA_TEMPLATE_ENV):
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def drop_database(name: str) -> None:
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def median(values: list[float]) -> float:
    return statistics.median(values)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


@dataclass
class Result:
    """One row of the table and of bench/results/latest.json."""

    name: str
    ours: float
    baseline: float
    unit: str
    target: float | None  # None: reported, not judged by ratio
    ratio: float = 0.0
    runs: dict = field(default_factory=dict)  # every repetition, for the curious
    notes: dict = field(default_factory=dict)
    passed: bool | None = None

    def __post_init__(self):
        self.ratio = round(self.ours / self.baseline, 3) if self.baseline else 0.0
        if self.passed is None:
            self.passed = self.target is None or self.ratio >= self.target

    def as_json(self) -> dict:
        row = asdict(self)
        row["ours"] = round(self.ours, 2)
        row["baseline"] = round(self.baseline, 2)
        return row


def repeat(
    measure_ours: Callable[[], float],
    measure_baseline: Callable[[], float],
    *,
    repetitions: int = 3,
    warmup: bool = True,
) -> tuple[float, float, dict]:
    """Median rates of both sides, interleaved (ours, baseline, ours, ...) after one warm-up
    of each that is not counted: load drifting on a shared machine hits both sides alike."""
    if warmup:
        measure_ours()
        measure_baseline()
    ours, baseline = [], []
    for _ in range(repetitions):
        ours.append(measure_ours())
        baseline.append(measure_baseline())
    runs = {"ours": [round(x, 2) for x in ours], "baseline": [round(x, 2) for x in baseline]}
    return median(ours), median(baseline), runs


def write_results(results: list[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([r.as_json() for r in results], indent=2, ensure_ascii=False) + "\n")


def log(message: str) -> None:
    # UTC: Django sets TZ to Asia/Shanghai in the processes that load it.
    print(f"[{time.strftime('%H:%M:%SZ', time.gmtime())}] {message}", file=sys.stderr, flush=True)


@contextmanager
def online_database(what: str) -> Iterator[dict]:
    """A throw-away database with the online benchmarks' data (quick size), for the profile
    scripts: yields `bench.online.setup`'s data, closes connections and drops it after."""
    from bench import online

    db = f"jifen_bench_profile_{what}_{os.getpid()}"
    create_schema_database(db)
    try:
        yield online.setup(db, online.Scale(quick=True))
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(db)


class Profiling:
    """Profile a block: with `cpu`, cProfile over CPU time (`time.process_time`); otherwise
    pyinstrument's wall-time tree. `report()` prints it."""

    def __init__(self, cpu: bool):
        self.cpu = cpu

    def __enter__(self) -> Profiling:
        if self.cpu:
            self.profiler = cProfile.Profile(time.process_time)
            self.profiler.enable()
        else:
            from pyinstrument import Profiler

            self.profiler = Profiler(interval=0.0005)
            self.profiler.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.cpu:
            self.profiler.disable()
        else:
            self.profiler.stop()

    def report(self, lines: int = 40, stats_file: str | None = None, show_all=False) -> None:
        if self.cpu:
            if stats_file:
                self.profiler.dump_stats(stats_file)
            pstats.Stats(self.profiler).sort_stats("cumulative").print_stats(lines)
        else:
            print(self.profiler.output_text(unicode=True, color=False, show_all=show_all))
