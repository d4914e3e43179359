"""config.settings.production with a sample environment, run as the image runs it: in a
separate process (the test process has the test settings loaded)."""

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from deploy.healthcheck import web_is_healthy
from tests.deploy.conftest import REPO, production_env, run_in_django, run_python

# Every system check we silence in production, with the reason. Keep it empty if you can.
SILENCED_WITH_REASON: dict[str, str] = {}


def test_check_deploy_passes_without_a_single_warning(sample_env):
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], sample_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    silenced = re.search(r"\((\d+) silenced\)", result.stdout)
    assert silenced is not None and int(silenced[1]) == len(SILENCED_WITH_REASON)


def test_production_refuses_to_start_without_a_secret_key(sample_env):
    del sample_env["SECRET_KEY"]
    result = run_in_django("", sample_env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr.strip().splitlines()[-1]


def test_production_refuses_to_start_without_allowed_hosts(sample_env):
    del sample_env["ALLOWED_HOSTS"]
    result = run_in_django("", sample_env)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr.strip().splitlines()[-1]


def _settings(env: dict[str, str]) -> dict:
    code = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "CSRF_TRUSTED_ORIGINS": settings.CSRF_TRUSTED_ORIGINS,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
    "SECURE_PROXY_SSL_HEADER": settings.SECURE_PROXY_SSL_HEADER,
    "MIDDLEWARE": settings.MIDDLEWARE,
    "STATICFILES": settings.STORAGES["staticfiles"]["BACKEND"],
    "DATABASES": {alias: {k: v for k, v in d.items() if k in
        ("ENGINE", "NAME", "HOST", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "TEST",
         "DISABLE_SERVER_SIDE_CURSORS", "OPTIONS")}
        for alias, d in settings.DATABASES.items()},
    "DATABASE_ROUTERS": settings.DATABASE_ROUTERS,
    "DATABASE_PREPARED_STATEMENTS": settings.DATABASE_PREPARED_STATEMENTS,
}))
"""
    result = run_in_django(code, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_hosts_and_trusted_origins_come_from_the_environment(tmp_path):
    values = _settings(
        production_env(
            tmp_path,
            ALLOWED_HOSTS="jifen.example.com,.shop.example.cn",
            CSRF_TRUSTED_ORIGINS="https://jifen.example.com,https://pos.shop.example.cn",
        )
    )
    assert values["DEBUG"] is False
    assert values["ALLOWED_HOSTS"] == ["jifen.example.com", ".shop.example.cn"]
    assert values["CSRF_TRUSTED_ORIGINS"] == [
        "https://jifen.example.com",
        "https://pos.shop.example.cn",
    ]


def test_cookies_are_secure_and_https_is_enforced_by_default(sample_env):
    values = _settings(sample_env)
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 60 * 60 * 24 * 30
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_static_files_are_served_by_whitenoise_with_hashed_names(sample_env):
    values = _settings(sample_env)
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in values["MIDDLEWARE"]
    assert values["STATICFILES"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    # The health middleware first, then security, then WhiteNoise.
    assert values["MIDDLEWARE"][:3] == [
        "config.health.HealthCheckMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    ]


def test_postgresql_connections_persist_and_are_health_checked(tmp_path):
    env = production_env(tmp_path, DATABASE_URL="postgres://jifen:pw@db.internal:5432/jifen")
    default = _settings(env)["DATABASES"]["default"]
    assert default["ENGINE"] == "django.db.backends.postgresql"
    assert default["CONN_MAX_AGE"] == 60
    assert default["CONN_HEALTH_CHECKS"] is True


def test_pgbouncer_transaction_pooling_disables_server_side_cursors(tmp_path):
    env = production_env(
        tmp_path,
        DATABASE_URL="postgres://jifen:pw@pgbouncer:6432/jifen",
        PGBOUNCER_TRANSACTION_POOLING="true",
    )
    values = _settings(env)
    assert values["DATABASES"]["default"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert values["DATABASE_PREPARED_STATEMENTS"] is False
    # Client-side binding, nothing prepared: what a transaction-mode pooler needs.
    options = values["DATABASES"]["default"]["OPTIONS"]
    assert "server_side_binding" not in options and "prepare_threshold" not in options


def test_prepared_statements_are_on_without_a_pooler_and_can_be_kept_behind_one(tmp_path):
    direct = production_env(tmp_path, DATABASE_URL="postgres://jifen:pw@db.internal:5432/jifen")
    pooled = production_env(
        tmp_path,
        DATABASE_URL="postgres://jifen:pw@pgbouncer:6432/jifen",
        PGBOUNCER_TRANSACTION_POOLING="true",
        DATABASE_PREPARED_STATEMENTS="true",  # PgBouncer 1.21+ with max_prepared_statements
    )
    for env in (direct, pooled):
        values = _settings(env)
        assert values["DATABASE_PREPARED_STATEMENTS"] is True
        # Django's own psycopg options: bound on the server, prepared on the 5th run.
        options = values["DATABASES"]["default"]["OPTIONS"]
        assert options["server_side_binding"] is True
        assert options["prepare_threshold"] == 5


def test_a_replica_url_adds_a_routed_replica_alias(tmp_path):
    env = production_env(
        tmp_path,
        DATABASE_URL="postgres://jifen:pw@primary.internal:5432/jifen",
        DATABASE_REPLICA_URL="postgres://jifen_ro:pw@replica.internal:5432/jifen",
    )
    values = _settings(env)
    replica = values["DATABASES"]["replica"]
    assert replica["HOST"] == "replica.internal"
    assert replica["CONN_HEALTH_CHECKS"] is True
    assert replica["TEST"]["MIRROR"] == "default"  # tests: no second test database
    assert values["DATABASE_ROUTERS"] == ["config.db.ReportingReplicaRouter"]


def test_logs_are_one_json_object_per_line(sample_env):
    result = run_in_django(
        "import logging\n"
        "logging.getLogger('points.services').warning('posting refused', "
        "extra={'member_no': 'M00000001'})\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n"
        "    logging.getLogger('django.request').exception('server error')\n",
        sample_env,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.strip().splitlines()]
    assert lines[0]["level"] == "WARNING"
    assert lines[0]["logger"] == "points.services"
    assert lines[0]["message"] == "posting refused"
    assert lines[0]["member_no"] == "M00000001"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", lines[0]["time"])
    assert lines[1]["logger"] == "django.request"
    assert "ZeroDivisionError" in lines[1]["exc_info"]


def test_health_probe_by_ip_over_http_is_answered_not_refused_or_redirected(sample_env):
    code = """
from django.test import Client
client = Client()
probe = client.get("/healthz", HTTP_HOST="10.0.3.7:8000")
print(probe.status_code, probe.json()["status"])
print(client.get("/accounts/login/", HTTP_HOST="10.0.3.7:8000").status_code)
redirect = client.get("/accounts/login/", HTTP_HOST="jifen.example.com")
print(redirect.status_code, redirect["Location"])
"""
    result = run_in_django(code, sample_env)
    assert result.returncode == 0, result.stderr
    probe, unknown_host, redirect = result.stdout.strip().splitlines()
    assert probe == "200 ok"
    assert unknown_host == "400"  # every other path still checks ALLOWED_HOSTS
    assert redirect == "301 https://jifen.example.com/accounts/login/"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory):
    """The image's web command (gunicorn + production settings) on a loopback port."""
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    port = _free_port()
    env = production_env(tmp_path, PORT=str(port), WEB_CONCURRENCY="2", ALLOWED_HOSTS="127.0.0.1")
    collect = run_python(["manage.py", "collectstatic", "--noinput", "-v0"], env, timeout=300)
    assert collect.returncode == 0, collect.stderr
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "deploy/gunicorn.conf.py",
            "config.wsgi:application",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not web_is_healthy(port=str(port), timeout=2):
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, "gunicorn did not become healthy in 60 s"
            time.sleep(0.3)
        yield {"port": port, "log": tmp_path / "gunicorn.log", "static": tmp_path / "static"}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_gunicorn_serves_healthz_to_the_image_health_check(gunicorn_server):
    result = subprocess.run(
        [sys.executable, "deploy/healthcheck.py", "web"],
        cwd=REPO,
        env={"PORT": str(gunicorn_server["port"]), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_whitenoise_serves_hashed_static_files_cached_for_good(gunicorn_server):
    manifest = json.loads((gunicorn_server["static"] / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/site.css"]
    assert hashed != "css/site.css"
    request = urllib.request.Request(
        f"http://127.0.0.1:{gunicorn_server['port']}/static/{hashed}",
        headers={"X-Forwarded-Proto": "https", "Accept-Encoding": "gzip"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert "immutable" in response.headers["Cache-Control"]
        assert response.headers["Content-Encoding"] == "gzip"


def test_gunicorn_access_log_is_json_with_request_fields(gunicorn_server):
    url = f"http://127.0.0.1:{gunicorn_server['port']}/healthz?probe=log"
    urllib.request.urlopen(url, timeout=10).close()
    deadline = time.monotonic() + 10
    entries: list[dict] = []
    while time.monotonic() < deadline:
        lines = gunicorn_server["log"].read_text().splitlines()
        entries = [json.loads(line) for line in lines if line.startswith("{")]
        if any(e.get("query") == "probe=log" for e in entries):
            break
        time.sleep(0.2)
    access = next(e for e in entries if e.get("query") == "probe=log")
    assert access["logger"] == "gunicorn.access"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/healthz", 200)
    assert isinstance(access["duration_ms"], int)
