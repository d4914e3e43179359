"""Profile the earn path: `purchase_record` in one process, as `earn_service_1` runs it.

    python -m bench.profile_earn [--seconds 5] [--cpu]

Sets up the online benchmarks' throw-away database (quick size), warms up for 2 s, then
records purchases for `--seconds` under pyinstrument (wall time), or with `--cpu` under
cProfile with `time.process_time` (CPU time, cumulative order), and prints the rate and the
profile. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import online  # noqa: E402
from bench.common import Profiling, online_database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cpu", action="store_true", help="cProfile, CPU time")
    args = parser.parse_args()
    with online_database("earn") as data:
        members = data["member_nos"]
        online.earn_work({"member_nos": members, "run": "warm"}, 0, time.time(), time.time() + 2)
        cpu_started = time.process_time()
        start = time.time()
        with Profiling(args.cpu) as profiling:
            done = online.earn_work(
                {"member_nos": members, "run": "profiled"}, 0, start, start + args.seconds
            )
        cpu_ms = (time.process_time() - cpu_started) * 1000 / max(done, 1)
        print(f"{done / args.seconds:.1f} purchases/s, {cpu_ms:.1f} ms CPU per purchase")
        profiling.report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
