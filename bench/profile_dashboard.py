"""Profile the member dashboard: `/` against `/bench/layout`, as `dashboard_page` runs them.

    python -m bench.profile_dashboard [--requests 200] [--cpu]

Sets up the online benchmarks' throw-away database (quick size), logs the dashboard member
in with Django's test client (bench settings: DEBUG off, persistent connection), warms up,
then times `--requests` requests of each page and prints the ratio, the queries per request
and the profile of the dashboard: pyinstrument (wall time), or with `--cpu` cProfile with
`time.process_time` (CPU time, cumulative order). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Profiling, online_database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--cpu", action="store_true", help="cProfile, CPU time")
    parser.add_argument("--show-all", action="store_true", help="pyinstrument: library frames too")
    parser.add_argument("--stats", help="with --cpu: also write the pstats file here")
    args = parser.parse_args()
    with online_database("dashboard") as data:
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(get_user_model().objects.get(username=data["dashboard_username"]))

        def get(path: str) -> None:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        def rate(path: str) -> float:
            started = time.perf_counter()
            for _ in range(args.requests):
                get(path)
            return args.requests / (time.perf_counter() - started)

        for path in ("/", "/bench/layout"):
            for _ in range(20):
                get(path)
        for path in ("/", "/bench/layout"):
            with CaptureQueriesContext(connection) as queries:
                get(path)
            print(f"{path}: {len(queries)} queries")
            for query in queries:
                print(f"    {query['sql'][:160]}")
        ours = [rate("/") for _ in range(3)]
        layout = [rate("/bench/layout") for _ in range(3)]
        ours_median, layout_median = sorted(ours)[1], sorted(layout)[1]
        print(
            f"/ {ours_median:.0f}/s, /bench/layout {layout_median:.0f}/s, "
            f"ratio {ours_median / layout_median:.3f} (test client, one process)"
        )
        with Profiling(args.cpu) as profiling:
            for _ in range(args.requests):
                get("/")
        profiling.report(lines=50, stats_file=args.stats, show_all=args.show_all)
    return 0


if __name__ == "__main__":
    sys.exit(main())
