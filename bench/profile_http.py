"""Profile one POS API purchase request in process, as `earn_http_4` sends it.

    python -m bench.profile_http [--seconds 5] [--cpu]

Sets up the online benchmarks' throw-away database (quick size), then posts purchases to
`/api/v1/purchases` through Django's WSGI handler (no server, no network: what is left is
the request's own work) for `--seconds` under pyinstrument (wall time), or with `--cpu`
under cProfile (CPU time, cumulative order). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Profiling, online_database  # noqa: E402
from bench.online import purchase_request_body  # noqa: E402


def post_purchases(handler, data: dict, run: str, stop_at: float) -> int:
    """Send purchase requests to the WSGI `handler` until `stop_at`; each must answer 201."""
    rng = random.Random(run)
    done = 0
    while time.time() < stop_at:
        body = purchase_request_body(rng.choice(data["member_nos"]), f"P{run}-{done}").encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/purchases",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Bearer {data['terminal_key']}",
            "HTTP_IDEMPOTENCY_KEY": f"P{run}-{done}",
        }
        statuses: list[str] = []
        answer = b"".join(
            handler(environ, lambda status, headers, seen=statuses: seen.append(status))
        )
        if not statuses[0].startswith("201"):
            raise SystemExit(f"request {done} answered {statuses[0]}: {answer[:300]!r}")
        done += 1
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cpu", action="store_true", help="cProfile, CPU time")
    args = parser.parse_args()
    with online_database("http") as data:
        from django.core.handlers.wsgi import WSGIHandler

        handler = WSGIHandler()
        post_purchases(handler, data, "warm", time.time() + 2)
        cpu_started = time.process_time()
        start = time.time()
        with Profiling(args.cpu) as profiling:
            done = post_purchases(handler, data, "profiled", start + args.seconds)
        cpu_ms = (time.process_time() - cpu_started) * 1000 / max(done, 1)
        print(f"{done / args.seconds:.1f} requests/s, {cpu_ms:.1f} ms CPU per request")
        profiling.report(lines=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
