"""Profile one POS API purchase request in process, as `earn_http_4` sends it.

    python -m bench.profile_http [--seconds 5] [--cpu]

Sets up the online benchmarks' throw-away database (quick size), then posts purchases to
`/api/v1/purchases` through Django's WSGI handler (no server, no network: what is left is
the request's own work) for `--seconds` under pyinstrument (wall time), or with `--cpu`
under cProfile (CPU time, cumulative order). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import online  # noqa: E402
from bench.common import create_database, drop_database  # noqa: E402


def post_purchases(handler, data: dict, run: str, stop_at: float) -> int:
    """Send purchase requests to the WSGI `handler` until `stop_at`; each must answer 201."""
    rng = random.Random(run)
    done = 0
    while time.time() < stop_at:
        body = json.dumps(
            {
                "member_no": rng.choice(data["member_nos"]),
                "receipt_no": f"P{run}-{done}",
                "occurred_at": "2026-01-15T10:00:00+08:00",
                "lines": [
                    {"line_no": 1, "quantity": 1, "amount_fen": 1290, "sku": "SKU-0"},
                    {"line_no": 2, "quantity": 2, "amount_fen": 4500, "sku": "SKU-2"},
                    {"line_no": 3, "quantity": 1, "amount_fen": 880, "category": "pens"},
                ],
            }
        ).encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/purchases",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_AUTHORIZATION": f"Bearer {data['terminal_key']}",
            "HTTP_IDEMPOTENCY_KEY": f"P{run}-{done}",
        }
        statuses: list[str] = []
        b"".join(handler(environ, lambda status, headers, seen=statuses: seen.append(status)))
        if not statuses[0].startswith("201"):
            raise SystemExit(f"request {done} answered {statuses[0]}")
        done += 1
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cpu", action="store_true", help="cProfile, CPU time")
    args = parser.parse_args()
    db = f"jifen_bench_profile_http_{os.getpid()}"
    create_database(db)
    try:
        data = online.setup(db, online.Scale(quick=True))
        from django.core.handlers.wsgi import WSGIHandler

        handler = WSGIHandler()
        post_purchases(handler, data, "warm", time.time() + 2)
        cpu_started = time.process_time()
        start = time.time()
        if args.cpu:
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        else:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        done = post_purchases(handler, data, "profiled", start + args.seconds)
        if args.cpu:
            profiler.disable()
        else:
            profiler.stop()
        cpu_ms = (time.process_time() - cpu_started) * 1000 / max(done, 1)
        print(f"{done / args.seconds:.1f} requests/s, {cpu_ms:.1f} ms CPU per request")
        if args.cpu:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
        else:
            print(profiler.output_text(unicode=True, color=False))
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
