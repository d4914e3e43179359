"""Container health checks: `python deploy/healthcheck.py web|beat`; exit 0 means healthy.

Standard library only, so a probe costs a few milliseconds and no Django start-up.
(The Celery worker is probed with `celery inspect ping` instead; see docker-compose.yml.)
"""

import glob
import json
import os
import sys
import time
import urllib.error
import urllib.request

# docker-compose.yml starts beat with --schedule=<this>; beat rewrites the file (a dbm,
# perhaps with a suffix) about every 3 minutes while it runs.
BEAT_SCHEDULE_FILE = "/tmp/celerybeat-schedule"
DEFAULT_BEAT_MAX_SILENCE_SECONDS = 600


def web_is_healthy(port: str | None = None, timeout: float = 5.0) -> bool:
    """GET /healthz on this container: 200 with {"status": "ok"} (the database answered)."""
    url = f"http://127.0.0.1:{port or os.environ.get('PORT', '8000')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return False
    return body.get("status") == "ok"


def beat_is_healthy(schedule: str | None = None, max_silence: float | None = None) -> bool:
    """The beat schedule file (any dbm suffix) was written within `max_silence` seconds."""
    schedule = schedule or BEAT_SCHEDULE_FILE
    if max_silence is None:
        max_silence = float(
            os.environ.get("BEAT_MAX_SILENCE_SECONDS", DEFAULT_BEAT_MAX_SILENCE_SECONDS)
        )
    written = [os.path.getmtime(path) for path in glob.glob(glob.escape(schedule) + "*")]
    if not written:
        print(f"unhealthy: no beat schedule file at {schedule}", file=sys.stderr)
        return False
    silence = time.time() - max(written)
    if silence > max_silence:
        print(f"unhealthy: beat schedule not written for {silence:.0f} s", file=sys.stderr)
        return False
    return True


CHECKS = {"web": web_is_healthy, "beat": beat_is_healthy}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CHECKS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(CHECKS)}")
    sys.exit(0 if CHECKS[sys.argv[1]]() else 1)
