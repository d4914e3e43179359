"""Tests (`make test`): PostgreSQL at DATABASE_URL, else the embedded server, and Redis."""

import os

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

from .base import *  # noqa: E402,F403
from .base import DATABASES, env  # noqa: E402

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-production-0123456789"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SMS_BACKEND = "points.sms.LocmemBackend"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=env("REDIS_URL"))
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_TASK_ALWAYS_EAGER = True  # a test that needs the real worker switches it off
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)

# Django flushes test tables with TRUNCATE between transactional tests; the append-only
# trigger lets TRUNCATE through only on connections that set this flag.
LEDGER_ALLOW_TEST_TRUNCATE = True
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jifen.allow_truncate=on"
