"""PostgreSQL is the only engine (issue 21): no product file names another one, and
`make test` with no DATABASE_URL runs on the embedded server, with nothing listening on
PostgreSQL's usual port."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from django.db import connection

from config import embedded_db

ROOT = Path(__file__).resolve().parent.parent
# Spelled in two halves so that this file does not name it either.
OTHER_ENGINE = "sq" + "lite"
NOT_PRODUCT = {".venv", ".git", "var", "staticfiles", "media", "node_modules", "__pycache__"}


def _product_files():
    """Every file of the checkout that git would commit (tracked, or new and not ignored);
    without git, every file outside the virtualenv, local state and tool caches."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0 and listed.stdout:
        names = [n for n in listed.stdout.decode().split("\0") if n]
        paths = [Path(name) for name in names]
    else:
        paths = [p.relative_to(ROOT) for p in ROOT.rglob("*") if p.is_file()]
    for relative in paths:
        skipped = NOT_PRODUCT & set(relative.parts) or any(
            part.startswith(".") and part.endswith("_cache") for part in relative.parts
        )
        if not skipped and (ROOT / relative).is_file():
            yield relative, ROOT / relative


def test_no_product_file_mentions_another_engine():
    mentions = []
    for relative, path in _product_files():
        text = path.read_bytes().decode("utf-8", errors="replace").lower()
        if OTHER_ENGINE in text:
            mentions.append(str(relative))
    assert mentions == []


def test_the_settings_refuse_a_database_url_that_is_not_postgresql(tmp_path):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"{OTHER_ENGINE}:///{tmp_path / 'x.db'}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "must name a PostgreSQL database" in result.stderr


def test_production_settings_refuse_to_start_without_a_database_url(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="jifen.example.com",
        DJANGO_ENV_FILE=str(tmp_path / "no.env"),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "DATABASE_URL is required in production" in result.stderr


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_make_test_without_database_url_runs_on_the_embedded_server():
    # Given no DATABASE_URL, and libpq's defaults pointing at a port where nothing listens
    # (as on a machine with no PostgreSQL service)
    was_running = embedded_db.is_running()
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(PGHOST="127.0.0.1", PGPORT=str(_unused_port()), PYTHONPATH=str(ROOT))
    try:
        # When `make test`'s two steps run: the preflight, then a ledger test module
        preflight = subprocess.run(
            [sys.executable, "-m", "config.preflight"],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert preflight.returncode == 0, preflight.stderr
        assert "Engine: embedded PostgreSQL" in preflight.stdout
        suite = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/points/test_append_only.py",
                "tests/test_one_engine.py::"
                "test_this_run_is_on_the_embedded_server_unless_database_url_is_set",
            ],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=900,
        )
        # Then the tests pass, on the embedded server
        assert suite.returncode == 0, suite.stdout[-3000:] + suite.stderr[-3000:]
        assert " passed" in suite.stdout and "skipped" not in suite.stdout
    finally:
        if not was_running:  # leave nothing running that this test started
            embedded_db.stop()


def test_this_run_is_on_the_embedded_server_unless_database_url_is_set(db):
    """Also run by the test above in a child pytest, with DATABASE_URL unset."""
    host = connection.get_connection_params().get("host", "")
    on_embedded = host.startswith("/") and Path(host).resolve().is_relative_to(
        embedded_db.VAR_DIR.resolve()
    )
    assert on_embedded == (not os.environ.get("DATABASE_URL"))
    if on_embedded:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version_num")
            assert int(cursor.fetchone()[0]) >= 180000  # the wheel's PostgreSQL 18
