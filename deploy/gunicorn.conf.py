"""gunicorn settings for the production image: `gunicorn -c deploy/gunicorn.conf.py`.

Every value can be changed from the environment without rebuilding the image; an empty
variable means its default.
"""

import os

from config.logs import json_logging_config


def _setting(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


bind = f"0.0.0.0:{_setting('PORT', 8000)}"
# Sync workers: a request holds one worker and one database connection for its duration.
# 2 x cores + 1 keeps the cores busy while some workers wait on PostgreSQL.
workers = _setting("WEB_CONCURRENCY", 2 * len(os.sched_getaffinity(0)) + 1)
timeout = _setting("GUNICORN_TIMEOUT", 30)
graceful_timeout = _setting("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Keep connections from the load balancer open between its requests.
keepalive = _setting("GUNICORN_KEEPALIVE", 5)
# Recycle each worker after this many requests (with jitter) so slow memory growth never
# accumulates.
max_requests = _setting("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10
# Heartbeat files in memory: on an overlay filesystem they can stall and get workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
logconfig_dict = json_logging_config(os.environ.get("LOG_LEVEL") or "INFO", gunicorn=True)
