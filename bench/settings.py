"""Settings for `make bench`: the product's base settings, served as in production, plus the
bench-only URL conf (the HTTP baselines). Never used by the product itself."""

import os
import warnings

warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic
os.environ.setdefault("POS_THROTTLE_RATE", "1000000/s")  # the load comes from one terminal

from config.settings.base import *  # noqa: E402,F403
from config.settings.base import LOGGING  # noqa: E402

DEBUG = False
ALLOWED_HOSTS = ["*"]
SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789abcdef"
ROOT_URLCONF = "bench.urls"
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CONN_MAX_AGE = 600
DATABASES["default"]["CONN_MAX_AGE"] = 600  # noqa: F405 - persistent, as a server runs
LOGGING["root"]["level"] = "WARNING"
