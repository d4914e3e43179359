"""Helpers for the deployment tests: the repository's files, and Django run in a subprocess
with the production settings and a sample environment (as the image runs it)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Variables the test process itself may carry that must not leak into a "production" run.
_LEAKY = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "DATABASE_REPLICA_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "STATIC_ROOT",
)


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A sample production environment: what .env.example asks for, with real values."""
    environment = {k: v for k, v in os.environ.items() if k not in _LEAKY}
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="jifen.example.com",
        CSRF_TRUSTED_ORIGINS="https://jifen.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'production.sqlite3'}",
        STATIC_ROOT=str(tmp_path / "static"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    environment.update(overrides)
    return environment


def run_python(args: list[str], env: dict[str, str], timeout: float = 120):
    """Run the venv's Python in the repository root; return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_in_django(code: str, env: dict[str, str]):
    """Run `code` after django.setup() under `env`'s settings."""
    return run_python(["-c", "import django\ndjango.setup()\n" + code], env)


@pytest.fixture
def sample_env(tmp_path):
    return production_env(tmp_path)
