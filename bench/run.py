"""`make bench`: every hot path against its physical baseline, side by side.

    python -m bench.run [--quick] [--only NAME,...]

Runs each group of benchmarks in its own process (each makes and drops its own throw-away
database on the PostgreSQL server of DATABASE_URL), prints the table and writes
bench/results/latest.json. `--quick` is the same suite at a tenth of the size (see SIZES).
Exit status 1 if a benchmark could not run or a correctness check failed (an overdraft, RSS
over its limit); a missed ratio is shown in the table, and fails the run only with
BENCH_STRICT=1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    RESULTS,
    SCHEMA_TEMPLATE_ENV,
    create_database,
    drop_database,
    load_average,
    log,
    server_base,
    server_url,
)

# name -> (group, full size, quick size). A group is one child process.
SIZES = {
    "earn_service_1": ("online", "10 s per repetition", "0.4 s per repetition"),
    "earn_ceiling_1": ("online", "10 s per repetition", "0.4 s per repetition"),
    "earn_service_4": ("online", "10 s per repetition", "0.4 s per repetition"),
    "earn_ceiling_4": ("online", "10 s per repetition", "0.4 s per repetition"),
    "earn_http_4": ("online", "10 s per repetition", "0.4 s per repetition"),
    "redeem_contended": ("online", "10 s per repetition", "0.4 s per repetition"),
    "exchange_day": ("online", "stock 500, 4,000 attempts", "stock 25, 200 attempts"),
    "import_purchases": (
        "import_purchases",
        {"rows": 1_000_000, "members": 50_000},
        {"rows": 10_000, "members": 2_000},
    ),
    "expire_points": (
        "expire_points",
        {"lots": 1_000_000, "members": 100_000},
        {"lots": 30_000, "members": 3_000},
    ),
    "export_audit": ("export_audit", {"rows": 1_000_000}, {"rows": 50_000}),
    "dashboard_page": ("online", "10 s per repetition", "0.4 s per repetition"),
    "green_pdf": ("online", "10 s per repetition", "0.4 s per repetition"),
}
ORDER = list(SIZES)


def child(group: str, quick: bool, only: list[str], out: Path) -> int:
    """Run one group in this process and write its results as JSON to `out`."""
    if group == "online":
        from bench.online import measure as measure_online

        results = measure_online(quick=quick, only=only)
        out.write_text(json.dumps([r.as_json() for r in results], ensure_ascii=False))
        return 0
    size = SIZES[group][2 if quick else 1]
    if group == "import_purchases":
        from bench.import_purchases import measure
    elif group == "expire_points":
        from bench.expire_points import measure
    else:
        from bench.export_audit import measure
    result = measure(**size)
    result.notes.setdefault("load_average", load_average())
    out.write_text(json.dumps([result.as_json()], ensure_ascii=False))
    return 0


def run_group(group: str, quick: bool, only: list[str]) -> tuple[list[dict], str | None]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        argv = ["--child", group, "--only", ",".join(only), "--out", str(out)]
        completed = subprocess.run(
            [sys.executable, "-m", "bench.run", *argv, *(["--quick"] if quick else [])],
            cwd=ROOT,
            check=False,
        )
        if completed.returncode != 0 or not out.stat().st_size:
            return [], f"exit status {completed.returncode}"
        return json.loads(out.read_text()), None
    finally:
        out.unlink(missing_ok=True)


@contextmanager
def migrated_schema():
    """Migrate one database for the whole run; each benchmark copies it (see
    `bench.common.create_schema_database`) instead of running the migrations again."""
    template = f"jifen_bench_schema_{os.getpid()}"
    create_database(template)
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            cwd=ROOT,
            env=dict(
                os.environ,
                DATABASE_URL=server_url(template),
                DJANGO_SETTINGS_MODULE="bench.settings",
            ),
            check=True,
        )
        os.environ[SCHEMA_TEMPLATE_ENV] = template
        yield
    finally:
        os.environ.pop(SCHEMA_TEMPLATE_ENV, None)
        drop_database(template)


def fmt(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def table(rows: list[dict]) -> str:
    header = ("benchmark", "ours", "baseline", "unit", "ratio", "target", "result")
    lines = [header]
    for row in rows:
        if "error" in row:
            lines.append((row["name"], "-", "-", "-", "-", str(row.get("target")), row["error"]))
            continue
        target = "report" if row["target"] is None else f">= {row['target']:.2f}"
        verdict = "pass" if row["passed"] else "FAIL"
        notes = row.get("notes", {})
        if row["name"] == "redeem_contended":
            verdict += f" (overdrafts: {notes.get('overdrafts')})"
        if row["name"] == "exchange_day":
            verdict += (
                f" (oversold: {notes.get('oversold')}, overdrafts: {notes.get('overdrafts')}, "
                f"p99 {notes.get('p99_ms')} ms)"
            )
        if "of_ceiling" in notes:
            verdict += f" ({notes['of_ceiling']:.3f} of ceiling, >= {notes['ceiling_target']})"
        if "p99_ms" in notes and row["name"] != "exchange_day":
            verdict += f" (p50 {notes['p50_ms']} ms, p99 {notes['p99_ms']} ms)"
        if row["name"] == "export_audit":
            verdict += f" (RSS {row['notes']['peak_rss_mb']:.0f} MB <= 200)"
        lines.append(
            (
                row["name"],
                fmt(row["ours"]),
                fmt(row["baseline"]),
                row["unit"],
                f"{row['ratio']:.3f}",
                target,
                verdict,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [
        " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
    ]
    rendered.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(rendered)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the size")
    parser.add_argument("--only", default=",".join(ORDER), help="comma-separated names")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    only = [name for name in args.only.split(",") if name]
    unknown = [name for name in only if name not in SIZES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(ORDER)}")
    if args.child:
        return child(args.child, args.quick, only, Path(args.out))

    started = time.monotonic()
    log(
        f"bench ({'quick' if args.quick else 'full'}) against {server_base()}, "
        f"load average {load_average()} on {os.cpu_count()} CPUs"
    )
    rows: list[dict] = []
    groups = list(dict.fromkeys(SIZES[name][0] for name in ORDER if name in only))
    with migrated_schema():
        for group in groups:
            names = [name for name in ORDER if name in only and SIZES[name][0] == group]
            found, error = run_group(group, args.quick, names)
            by_name = {row["name"]: row for row in found}
            for name in names:
                row = by_name.get(name)
                if row is None:
                    row = {"name": name, "error": f"did not run ({error or 'no result'})"}
                row.setdefault("target", None)
                rows.append(row)
    rows.sort(key=lambda row: ORDER.index(row["name"]))
    elapsed = time.monotonic() - started
    scale = "quick" if args.quick else "full"
    for row in rows:
        row["scale"] = scale
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    print()
    print(table(rows))
    print(
        f"\n{scale} run, {elapsed:.0f} s, load average {load_average()} on {os.cpu_count()} "
        f"CPUs; wrote bench/results/latest.json"
    )
    errors = [row for row in rows if "error" in row]
    # Correctness, not speed: an overdraft under contention, or the export's RSS limit.
    broken = [
        row
        for row in rows
        if "error" not in row
        and not row["passed"]
        and (row["target"] is None or row["ratio"] >= row["target"])
    ]
    missed = [row for row in rows if "error" not in row and not row["passed"]]
    if errors or broken:
        return 1
    if missed and os.environ.get("BENCH_STRICT"):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
