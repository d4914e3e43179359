"""Settings shared by every environment. The environment is read once, here."""

import os
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# Values already in the environment win over the file. DJANGO_ENV_FILE points elsewhere.
ENV_FILE = Path(env.str("DJANGO_ENV_FILE", default=str(BASE_DIR / ".env")))
env.read_env(str(ENV_FILE), overwrite=False) if ENV_FILE.is_file() else None

SECRET_KEY = env("SECRET_KEY", default="django-insecure-jifen-local-only-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    # Ours, in import order: merchants <- points <- activities, redemption <- reports.
    "merchants",
    "points",
    "activities",
    "redemption",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks, so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "points.context_processors.member_header",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# PostgreSQL only. With no DATABASE_URL: the embedded server of this checkout (var/pg/,
# Unix socket), started if it is not running (config/embedded_db.py).
if env("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
elif os.environ.get("DJANGO_SETTINGS_MODULE", "").endswith(".production"):
    raise ImproperlyConfigured("DATABASE_URL is required in production.")
else:
    from config.embedded_db import database_url

    DATABASES = {"default": env.db_url_config(database_url())}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must name a PostgreSQL database (postgres://...).")


# Statements a connection runs again and again (the few every purchase runs, above all) are
# prepared on the server: parameters bound there and the plan kept, through Django's own
# psycopg OPTIONS. Off behind a transaction-mode pooler older than PgBouncer 1.21 (it may
# hand a transaction a server connection that never saw the statement); production turns
# it off with PGBOUNCER_TRANSACTION_POOLING unless this is set explicitly.
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
# psycopg's own default: a statement is prepared on its 5th execution on a connection.
PREPARE_THRESHOLD = 5


def prepared_statements(db: dict, enabled: bool) -> dict:
    """Server-side binding and automatic preparing for `db`, or neither."""
    options = db.setdefault("OPTIONS", {})
    if enabled:
        options.update(server_side_binding=True, prepare_threshold=PREPARE_THRESHOLD)
    else:
        options.pop("server_side_binding", None)
        options.pop("prepare_threshold", None)
    return db


def _tune_database(db: dict) -> dict:
    db.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    db.setdefault("CONN_HEALTH_CHECKS", True)
    return prepared_statements(db, DATABASE_PREPARED_STATEMENTS)


DATABASES["default"] = _tune_database(DATABASES["default"])
# Optional read replica for reports and exports; config.db routes reads to it.
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = _tune_database(env.db("DATABASE_REPLICA_URL"))
    # Under test the replica is the default test database, not a second one.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["config.db.ReportingReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache / Redis ----------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that hangs must not hang requests: the POS throttle and the catalog
            # stamp fail open on an error, which a timeout turns a hang into.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 1  # hours
AXES_VERBOSE = False
# A username is locked only from the address that failed (a stranger cannot lock the owner
# out), and an address past AXES_FAILURES_PER_ADDRESS failures is locked for every username
# (config/login_throttle.py). The address is the one every throttle uses (client_ip).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_FAILURES_PER_ADDRESS = env.int("AXES_FAILURES_PER_ADDRESS", default=30)
AXES_HANDLER = "config.login_throttle.AddressAwareAxesHandler"
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# How many proxies of our own stand before the app; X-Forwarded-For is trusted only
# through them (config/client_ip.py). 0 = the header is ignored.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- I18N -------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = BASE_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Email ------------------------------------------------------------------------------
EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
# Links in emails are made absolute with this.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Jifen 积分 <noreply@jifen.local>")

# --- SMS --------------------------------------------------------------------------------
# Dotted path of the backend (points/sms.py). The file backend writes var/sms/outbox.jsonl,
# where `make run` users read their codes; production names a real provider's backend.
SMS_BACKEND = env("SMS_BACKEND", default="points.sms.FileBackend")
# Key of the HMAC kept for every number that ever received the sign-up bonus. Set it once
# and keep it: changing it forgets those numbers.
MOBILE_DIGEST_KEY = env("MOBILE_DIGEST_KEY", default="") or SECRET_KEY
SMS_FILE_PATH = env("SMS_FILE_PATH", default="") or str(BASE_DIR / "var" / "sms" / "outbox.jsonl")

# --- Celery -----------------------------------------------------------------------------
# No broker configured = the embedded default: tasks run eagerly, in the calling process.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves it queued; our tasks are idempotent
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 24 * 3600
# Times are Asia/Shanghai (CELERY_TIMEZONE). Every job is idempotent and safe to overlap.
CELERY_BEAT_SCHEDULE: dict = {
    "seal-ledger": {"task": "points.tasks.seal_ledger_task", "schedule": 60.0},
    "expire-points": {
        "task": "points.tasks.expire_points_task",
        "schedule": crontab(hour=2, minute=10),
    },
    "send-expiry-reminders": {
        "task": "points.tasks.send_expiry_reminders_task",
        "schedule": crontab(hour=9, minute=30),
    },
    "retry-pending-emails": {
        "task": "points.tasks.retry_pending_emails_task",
        "schedule": crontab(minute="*/10"),
    },
    # Last month's green reports, on the 1st at 06:00 (Asia/Shanghai).
    "green-reports-monthly": {
        "task": "reports.tasks.green_reports_monthly_task",
        "schedule": crontab(minute=0, hour=6, day_of_month=1),
    },
    # Daily at 08:00: yesterday's flagged 风控 rows, emailed to platform staff.
    "risk-report-daily": {
        "task": "reports.tasks.risk_report_email_task",
        "schedule": crontab(hour=8, minute=0),
    },
    # Daily at 10:00: one offer for each member who lapsed since the last run.
    "send-winback-offers": {
        "task": "redemption.tasks.send_winback_offers_task",
        "schedule": crontab(hour=10, minute=0),
    },
    # Daily at 10:30: members hear of an exchange day EXCHANGE_DAY_NOTICE_DAYS days ahead.
    "announce-exchange-days": {
        "task": "redemption.tasks.announce_exchange_days_task",
        "schedule": crontab(hour=10, minute=30),
    },
    # Daily at 08:00: each merchant's users get new and waiting redemptions by email.
    "merchant-fulfilment-digest": {
        "task": "redemption.tasks.send_merchant_digests_task",
        "schedule": crontab(hour=8, minute=0),
    },
}

# --- REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "points.api.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_RATES": {"terminal": env("POS_THROTTLE_RATE", default="600/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Jifen POS API",
    "DESCRIPTION": "Points for purchases at coalition merchants.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's assets are served from our static files: no CDN needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Jifen domain settings --------------------------------------------------------------
# Unset = points never expire ("积分永久有效").
POINTS_EXPIRY_MONTHS = env.int("POINTS_EXPIRY_MONTHS", default=None)
# Members are reminded this many days before a lot expires, once per threshold.
POINTS_EXPIRY_REMINDER_DAYS = env.list("POINTS_EXPIRY_REMINDER_DAYS", cast=int, default=[30, 7])
# Compliance: the sum of no-purchase bonuses (sign-up, first purchase) a member may receive.
POINTS_SIGNUP_BONUS_CAP = env.int("POINTS_SIGNUP_BONUS_CAP", default=200)
POINTS_SIGNUP_BONUS = env.int("POINTS_SIGNUP_BONUS", default=100)
POINTS_FIRST_PURCHASE_BONUS = env.int("POINTS_FIRST_PURCHASE_BONUS", default=100)
# The first-purchase bonus needs a first purchase of at least this much (fen): 首单满 20 元.
POINTS_FIRST_PURCHASE_MIN_FEN = env.int("POINTS_FIRST_PURCHASE_MIN_FEN", default=2000)
# A point must never be worth less than this many fen in any reward price.
POINT_VALUE_FLOOR_FEN = env.int("POINT_VALUE_FLOOR_FEN", default=5)
# What a refund does when the member has already spent the points: reverse in full and let
# the balance go negative ("allow_negative"), or take only what is left ("cap_at_balance").
REFUND_POLICY = env("REFUND_POLICY", default="allow_negative")
# Settlement between merchants: what one point is worth in fen (points redeemed at a
# merchant minus points it issued, times this).
SETTLEMENT_FEN_PER_POINT = env.int("SETTLEMENT_FEN_PER_POINT", default=1)
# Platform bonus points redeemed at a merchant are paid to it only up to this share of the
# points members earned by real purchases and redeemed there, per month (0.20 = 20 %).
SETTLEMENT_BONUS_SHARE_MAX = env.float("SETTLEMENT_BONUS_SHARE_MAX", default=0.20)
# A manual adjustment of more than this many points (either way) waits for a second
# platform-staff user to approve it; smaller ones are applied at once.
ADJUSTMENT_APPROVAL_THRESHOLD = env.int("ADJUSTMENT_APPROVAL_THRESHOLD", default=1000)
# `seed_demo` (public passwords, a published POS key) runs only where this is True; the
# production settings switch it off, and no environment variable switches it back on.
DEMO_DATA_ALLOWED = True
# 风控 (/staff/risk/ and its daily email): a merchant's day is flagged when a figure goes
# past its threshold (env RISK_<NAME>, e.g. RISK_NEW_MEMBERS=20).
RISK_THRESHOLDS = {
    "new_members": env.int("RISK_NEW_MEMBERS", default=20),
    "first_bonuses": env.int("RISK_FIRST_BONUSES", default=10),
    "under_minimum": env.int("RISK_UNDER_MINIMUM", default=20),
    "tiny_by_one_terminal": env.int("RISK_TINY_BY_ONE_TERMINAL", default=5),
    "young_redeemed_points": env.int("RISK_YOUNG_REDEEMED_POINTS", default=1000),
    "adjusted_points_by_requester": env.int("RISK_ADJUSTED_POINTS_BY_REQUESTER", default=3000),
    # Refused check-ins at one activity in a day (wrong codes, new accounts, shared phones).
    "activity_refusals": env.int("RISK_ACTIVITY_REFUSALS", default=10),
}
# Tests on PostgreSQL flush tables with TRUNCATE; only they switch this on.
LEDGER_ALLOW_TEST_TRUNCATE = False
# The Ed25519 key that signs the seal chain's checkpoints: a file, never the database.
# Local runs generate one under var/ on first use; production must set it (docs/audit.md).
LEDGER_SIGNING_KEY_FILE = env("LEDGER_SIGNING_KEY_FILE", default="") or str(
    BASE_DIR / "var" / "ledger-signing-key.pem"
)
LEDGER_SIGNING_KEY_GENERATE = env.bool("LEDGER_SIGNING_KEY_GENERATE", default=True)
# Every signed checkpoint is also appended to checkpoints.jsonl here (outside the database).
LEDGER_CHECKPOINT_DIR = env("LEDGER_CHECKPOINT_DIR", default="") or str(
    BASE_DIR / "var" / "checkpoints"
)
# Each new checkpoint is mailed to these addresses (comma-separated; empty = no mail).
AUDITOR_EMAILS = env.list("AUDITOR_EMAILS", default=[])

if POINTS_EXPIRY_MONTHS is not None and POINTS_EXPIRY_MONTHS <= 0:
    raise ImproperlyConfigured(
        "POINTS_EXPIRY_MONTHS must be a positive number of months, or unset."
    )
if any(days < 1 for days in POINTS_EXPIRY_REMINDER_DAYS):
    raise ImproperlyConfigured("POINTS_EXPIRY_REMINDER_DAYS must be positive numbers of days.")
if POINTS_SIGNUP_BONUS_CAP < 0 or POINTS_SIGNUP_BONUS < 0 or POINTS_FIRST_PURCHASE_BONUS < 0:
    raise ImproperlyConfigured("Bonus settings and POINTS_SIGNUP_BONUS_CAP must not be negative.")
if POINTS_SIGNUP_BONUS + POINTS_FIRST_PURCHASE_BONUS > POINTS_SIGNUP_BONUS_CAP:
    raise ImproperlyConfigured(
        "POINTS_SIGNUP_BONUS + POINTS_FIRST_PURCHASE_BONUS "
        f"({POINTS_SIGNUP_BONUS} + {POINTS_FIRST_PURCHASE_BONUS}) exceeds "
        f"POINTS_SIGNUP_BONUS_CAP ({POINTS_SIGNUP_BONUS_CAP}): points must follow real consumption."
    )
if REFUND_POLICY not in ("allow_negative", "cap_at_balance"):
    raise ImproperlyConfigured("REFUND_POLICY must be allow_negative or cap_at_balance.")
if SETTLEMENT_FEN_PER_POINT < 0:
    raise ImproperlyConfigured("SETTLEMENT_FEN_PER_POINT must not be negative.")
if POINTS_FIRST_PURCHASE_MIN_FEN < 1:
    raise ImproperlyConfigured("POINTS_FIRST_PURCHASE_MIN_FEN must be at least 1 fen.")
if not 0 <= SETTLEMENT_BONUS_SHARE_MAX <= 1:
    raise ImproperlyConfigured("SETTLEMENT_BONUS_SHARE_MAX must be from 0 to 1 (a share).")
if AXES_FAILURE_LIMIT < 1 or AXES_FAILURES_PER_ADDRESS < AXES_FAILURE_LIMIT:
    raise ImproperlyConfigured(
        "AXES_FAILURE_LIMIT must be at least 1 and AXES_FAILURES_PER_ADDRESS at least as large."
    )
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must not be negative.")
if any(limit < 0 for limit in RISK_THRESHOLDS.values()):
    raise ImproperlyConfigured("RISK_* thresholds must not be negative.")
if ADJUSTMENT_APPROVAL_THRESHOLD < 0:
    raise ImproperlyConfigured("ADJUSTMENT_APPROVAL_THRESHOLD must not be negative.")
if POINT_VALUE_FLOOR_FEN < 1:
    raise ImproperlyConfigured("POINT_VALUE_FLOOR_FEN must be at least 1 fen.")

# --- Win-back offers --------------------------------------------------------------------
# A member with no earn, refund or redemption for this many days gets one personal offer.
WIN_BACK_AFTER_DAYS = env.int("WIN_BACK_AFTER_DAYS", default=90)
# The offer's discount off the reward's points price of the day (value floor still holds).
WIN_BACK_DISCOUNT_PERCENT = env.int("WIN_BACK_DISCOUNT_PERCENT", default=30)
# How long an offer may be redeemed, from the moment it is made.
WIN_BACK_OFFER_VALID_DAYS = env.int("WIN_BACK_OFFER_VALID_DAYS", default=30)
# Members are told of a merchant's exchange day this many days ahead (1-28).
EXCHANGE_DAY_NOTICE_DAYS = env.int("EXCHANGE_DAY_NOTICE_DAYS", default=3)
if not 1 <= EXCHANGE_DAY_NOTICE_DAYS <= 28:
    raise ImproperlyConfigured("EXCHANGE_DAY_NOTICE_DAYS must be between 1 and 28.")
# 积分 + 少量现金: an offer may replace the points a member lacks by at most this much cash,
# at the value-floor rate (POINT_VALUE_FLOOR_FEN per point); rewards beyond it are not offered.
WINBACK_CASH_TOPUP_MAX_FEN = env.int("WINBACK_CASH_TOPUP_MAX_FEN", default=2000)
if WINBACK_CASH_TOPUP_MAX_FEN < 0:
    raise ImproperlyConfigured("WINBACK_CASH_TOPUP_MAX_FEN must be 0 or more.")

if WIN_BACK_AFTER_DAYS < 1 or WIN_BACK_OFFER_VALID_DAYS < 1:
    raise ImproperlyConfigured("WIN_BACK_AFTER_DAYS and WIN_BACK_OFFER_VALID_DAYS must be >= 1.")
if not 0 <= WIN_BACK_DISCOUNT_PERCENT <= 99:
    raise ImproperlyConfigured("WIN_BACK_DISCOUNT_PERCENT must be from 0 to 99.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # WeasyPrint and fontTools narrate every PDF step at INFO.
    "loggers": {
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# Green points for taking part in a community's activities (activities/): at most this many
# per member and calendar month, however many activities they attend.
GREEN_ACTIVITY_POINTS_MAX_MONTH = env.int("GREEN_ACTIVITY_POINTS_MAX_MONTH", default=100)
