"""Production: every secret from the environment, HTTPS only, JSON logs, WhiteNoise statics.

Run behind a TLS-terminating load balancer or reverse proxy that sets X-Forwarded-Proto.
Every variable is listed, with its meaning, in `.env.example`; deployment is in
docs/deploy.md and scaling in docs/scaling.md.
"""

from config.logs import json_logging_config

from .base import *  # noqa: F403
from .base import DATABASES, MIDDLEWARE, STATIC_ROOT, STORAGES, env, prepared_statements

DEBUG = False
# No demo data in production: seed_demo refuses (and `check --deploy` fails on leftovers).
DEMO_DATA_ALLOWED = False
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
# Full origins, e.g. https://jifen.example.com (needed for POSTs behind the proxy).
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Health probes come by IP over plain HTTP: answer them before host checks and redirects.
MIDDLEWARE = ["config.health.HealthCheckMiddleware", *MIDDLEWARE]

# The image's code directory is read-only: the file SMS backend (a local trial only; a real
# deployment names its provider's backend in SMS_BACKEND) writes under /tmp unless told.
SMS_FILE_PATH = env("SMS_FILE_PATH", default="") or "/tmp/jifen-sms/outbox.jsonl"

# --- HTTPS ------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Switch these two off only for a trial on http://127.0.0.1 (see .env.example).
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
# Start at 30 days; raise to 31536000 (a year) once HTTPS is known good everywhere.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Static files -----------------------------------------------------------------------
# Collected at image build time; WhiteNoise (in base MIDDLEWARE) serves them with
# content-hashed names and far-future cache headers.
STATIC_ROOT = env.path("STATIC_ROOT", default=str(STATIC_ROOT))
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Database ---------------------------------------------------------------------------
# Base gives every PostgreSQL alias persistent connections (CONN_MAX_AGE, default 60 s)
# with CONN_HEALTH_CHECKS: one connection per gunicorn worker process, reused across
# requests and checked before reuse. Past a few hundred connections in all, put PgBouncer
# in transaction mode in front (docs/scaling.md) and set PGBOUNCER_TRANSACTION_POOLING.
if env.bool("PGBOUNCER_TRANSACTION_POOLING", default=False):
    for _database in DATABASES.values():
        # Server-side cursors do not survive a transaction-mode pooler.
        _database["DISABLE_SERVER_SIDE_CURSORS"] = True
    # Nor do prepared statements, before PgBouncer 1.21 (max_prepared_statements).
    DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=False)
    for _database in DATABASES.values():
        prepared_statements(_database, DATABASE_PREPARED_STATEMENTS)

# --- Celery -----------------------------------------------------------------------------
# Let the LOGGING below format worker logs too, instead of Celery's own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Logging: one JSON object per line on stderr, for the log shipper -----------------
LOGGING = json_logging_config(env("LOG_LEVEL", default="INFO"))

# A production checkpoint key is provisioned, never generated on a server (docs/audit.md).
LEDGER_SIGNING_KEY_GENERATE = env.bool("LEDGER_SIGNING_KEY_GENERATE", default=False)
