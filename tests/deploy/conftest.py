"""Helpers for the deployment tests: the repository's files, and Django run in a subprocess
with the production settings and a sample environment (as the image runs it)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from config.db import database_url

REPO = Path(__file__).resolve().parents[2]

# Only these pass from the test process into a "production" run: everything else (test
# settings, DJANGO_ALLOW_ASYNC_UNSAFE set for Playwright, a developer's DATABASE_URL...) would
# make the run something other than what the image runs.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A sample production environment: what .env.example asks for, with real values."""
    environment = {k: v for k, v in os.environ.items() if k in _INHERITED}
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="jifen.example.com",
        CSRF_TRUSTED_ORIGINS="https://jifen.example.com",
        # The server the tests use (its `postgres` database: /healthz only runs SELECT 1).
        DATABASE_URL=database_url(dbname="postgres"),
        STATIC_ROOT=str(tmp_path / "static"),
        PYTHONDONTWRITEBYTECODE="1",
        # Not the developer's own .env (say, a copy of .env.example for a local trial).
        DJANGO_ENV_FILE=str(tmp_path / "no.env"),
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
