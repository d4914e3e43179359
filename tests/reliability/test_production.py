"""Production settings (issue 11, part 5): `check --deploy` clean, secure cookies and
security headers, secrets only from the environment."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def production_env(**extra):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "jifen.example.com",
        "DATABASE_URL": "postgres://jifen@db.invalid:5432/jifen",
        "CELERY_BROKER_URL": "redis://redis.invalid:6379/1",
        "REDIS_URL": "redis://redis.invalid:6379/0",
    }
    env.update(extra)
    return env


def run(code_or_args, env):
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_a_production_like_environment():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_its_secret_key():
    env = production_env()
    del env["SECRET_KEY"]
    result = run("import django; django.setup()", env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


PROBE = """
import django
django.setup()
from django.conf import settings as s
from django.test import Client
# A normal URL (the API schema needs no collected static files): /healthz is answered
# before the security middleware on purpose, so load balancers can probe it by IP over
# plain HTTP (docs/deploy.md).
r = Client().get("/api/v1/schema", secure=True, HTTP_HOST="jifen.example.com")
print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY,
      s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0)
print(r.headers.get("Strict-Transport-Security", ""))
print(r.headers.get("X-Content-Type-Options", ""), r.headers.get("X-Frame-Options", ""),
      r.headers.get("Referrer-Policy", ""), r.headers.get("Cross-Origin-Opener-Policy", ""))
insecure = Client().get("/api/v1/schema", HTTP_HOST="jifen.example.com")
print(insecure.status_code, insecure.headers.get("Location", ""))
"""


def test_production_sends_security_headers_and_secure_cookie_flags(transactional_db):
    from django.conf import settings

    db = settings.DATABASES["default"]
    env = production_env(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    result = run(PROBE, env)
    assert result.returncode == 0, result.stderr
    flags, hsts, headers, redirect = result.stdout.strip().splitlines()[-4:]
    assert flags == "False True True True True True"
    assert "max-age=" in hsts and "includeSubDomains" in hsts
    assert headers.split() == ["nosniff", "DENY", "same-origin", "same-origin"]
    assert redirect.startswith("301 https://jifen.example.com/api/v1/schema")


def test_settings_read_secrets_only_from_the_environment():
    """No literal secret in the production settings: every credential is an env() read."""
    text = (ROOT / "config/settings/production.py").read_text()
    assert 'SECRET_KEY = env("SECRET_KEY")' in text
    for needle in ("password", "postgres://", "redis://", "jf_"):
        assert needle not in text.lower(), needle
