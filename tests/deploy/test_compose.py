"""docker-compose.yml: the services, their health checks, start order, volumes and settings.

No Docker engine runs on the test machines, so the file is parsed with PyYAML and checked
here; `docker compose config` runs too where the docker client has the compose plugin.
"""

import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.deploy.conftest import REPO

APP_SERVICES = {"migrate", "web", "worker", "beat"}
LONG_RUNNING = {"db", "redis", "web", "worker", "beat"}
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value, environment: dict[str, str]):
    """Compose's variable substitution (${NAME}, ${NAME:-default}, $$) over a parsed file."""
    if isinstance(value, dict):
        return {key: interpolate(item, environment) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environment) for item in value]
    if not isinstance(value, str):
        return value
    parts = value.split("$$")  # $$ is a literal $ for the container's shell
    substituted = [
        _VARIABLE.sub(
            lambda m: environment.get(m["name"]) or (m["default"] or ""),
            part,
        )
        for part in parts
    ]
    return "$".join(substituted)


@pytest.fixture(scope="module")
def compose() -> dict:
    with (REPO / "docker-compose.yml").open(encoding="utf-8") as file:
        return yaml.safe_load(file)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def without_env(compose) -> dict:
    """The file as compose sees it with no .env and an empty shell (`make test`'s case)."""
    return interpolate(compose, {})


def test_the_stack_has_every_service_and_no_other(services):
    assert set(services) == {"db", "redis", "migrate", "web", "worker", "beat"}


def test_database_is_postgresql_16_on_a_named_volume(compose, services):
    assert services["db"]["image"] == "postgres:16"
    volume, _, target = services["db"]["volumes"][0].partition(":")
    assert target == "/var/lib/postgresql/data"
    assert volume in compose["volumes"], "the data directory must be a declared named volume"


def test_redis_is_version_7_and_keeps_queued_tasks_on_a_named_volume(compose, services):
    assert services["redis"]["image"] == "redis:7"
    assert "--appendonly" in services["redis"]["command"]
    volume, _, target = services["redis"]["volumes"][0].partition(":")
    assert (volume, target) == ("redisdata", "/data")
    assert volume in compose["volumes"]


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_each_long_running_service_has_a_health_check(services, name):
    healthcheck = services[name]["healthcheck"]
    assert not healthcheck.get("disable", False)
    assert healthcheck["test"][0] in {"CMD", "CMD-SHELL"}
    assert len(healthcheck["test"]) >= 2
    for key in ("interval", "timeout", "retries"):
        assert key in healthcheck, f"{name} healthcheck has no {key}"


def test_web_health_check_probes_healthz_through_the_image_script(services):
    assert services["web"]["healthcheck"]["test"] == [
        "CMD",
        "python",
        "deploy/healthcheck.py",
        "web",
    ]
    script = (REPO / "deploy" / "healthcheck.py").read_text(encoding="utf-8")
    assert "/healthz" in script


def test_worker_health_check_pings_its_own_celery_node(services):
    test = services["worker"]["healthcheck"]["test"][1]
    assert "inspect ping" in test
    assert "worker@$$HOSTNAME" in test
    assert "--hostname=worker@%h" in " ".join(services["worker"]["command"])


def test_migrate_is_a_one_off_release_step(services):
    migrate = services["migrate"]
    assert migrate["command"] == ["sh", "deploy/release.sh"]
    assert migrate["restart"] == "no"
    assert migrate["healthcheck"] == {"disable": True}
    assert "manage.py migrate" in (REPO / "deploy" / "release.sh").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("migrate", {"db": "service_healthy"}),
        (
            "web",
            {
                "db": "service_healthy",
                "redis": "service_healthy",
                "migrate": "service_completed_successfully",
            },
        ),
        (
            "worker",
            {
                "db": "service_healthy",
                "redis": "service_healthy",
                "migrate": "service_completed_successfully",
            },
        ),
        ("beat", {"redis": "service_healthy", "migrate": "service_completed_successfully"}),
    ],
)
def test_app_services_wait_for_what_they_need(services, name, expected):
    conditions = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
    assert conditions == expected


def test_every_service_healthy_condition_names_a_service_with_a_health_check(services):
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if spec["condition"] == "service_healthy":
                assert not services[dependency]["healthcheck"].get("disable", False)


def test_app_services_run_the_one_image_built_from_the_dockerfile(services):
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        assert services[name]["build"]["context"] == "."


def test_app_services_read_dot_env_without_requiring_it(services):
    for name in APP_SERVICES:
        assert services[name]["env_file"] == [{"path": ".env", "required": False}]


def test_web_runs_the_image_default_command(services):
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd is not None
    assert services["web"]["command"] == yaml.safe_load(cmd.group(1))


def test_containers_reach_postgres_and_redis_by_service_name(without_env):
    for name in APP_SERVICES:
        environment = without_env["services"][name]["environment"]
        user = "postgres" if name == "migrate" else "jifen_app"
        assert environment["DATABASE_URL"] == f"postgres://{user}:@db:5432/jifen"
        assert environment["REDIS_URL"].startswith("redis://redis:6379/")
        assert environment["CELERY_BROKER_URL"].startswith("redis://redis:6379/")


def test_database_url_follows_the_postgres_settings_of_dot_env(compose):
    configured = interpolate(
        compose, {"POSTGRES_USER": "jifen", "POSTGRES_PASSWORD": "0a1b2c", "POSTGRES_DB": "points"}
    )
    url = configured["services"]["migrate"]["environment"]["DATABASE_URL"]
    assert url == "postgres://jifen:0a1b2c@db:5432/points"
    assert configured["services"]["db"]["environment"]["POSTGRES_USER"] == "jifen"


def test_db_and_redis_alone_still_serve_make_test_without_a_dot_env(without_env):
    # README and `make test`: `docker compose up -d db redis`, then
    # DATABASE_URL=postgres://postgres@127.0.0.1:5432/jifen and redis://127.0.0.1:6379/0.
    db = without_env["services"]["db"]
    assert db["ports"] == ["127.0.0.1:5432:5432"]
    assert db["environment"]["POSTGRES_USER"] == "postgres"
    assert db["environment"]["POSTGRES_DB"] == "jifen"
    assert db["environment"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert without_env["services"]["redis"]["ports"] == ["127.0.0.1:6379:6379"]
    assert "depends_on" not in db and "depends_on" not in without_env["services"]["redis"]


def test_published_ports_stay_on_loopback_by_default(without_env):
    for name, service in without_env["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_no_fixed_container_names_so_workers_can_scale(services):
    # A fixed name would stop `docker compose up --scale worker=N`.
    assert all("container_name" not in service for service in services.values())


def test_beat_writes_its_schedule_where_its_health_check_looks(services):
    from deploy.healthcheck import BEAT_SCHEDULE_FILE

    assert "beat" in services["beat"]["command"]
    assert f"--schedule={BEAT_SCHEDULE_FILE}" in services["beat"]["command"]


def _variables_the_stack_reads() -> set[str]:
    names: set[str] = set()
    compose_text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    names |= {m["name"] for m in _VARIABLE.finditer(compose_text.replace("$${", "#{"))}
    names |= set(re.findall(r"\$\$\{([A-Z_][A-Z0-9_]*)", compose_text))  # container shell
    for path in (REPO / "config" / "settings").glob("*.py"):
        if path.name == "test.py":
            continue
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z_][A-Z0-9_]*)\"", text))
    for path in (REPO / "deploy").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r"os\.environ\.get\(\s*[\"']([A-Z_][A-Z0-9_]*)", text))
        names |= set(re.findall(r"_setting\(\s*[\"']([A-Z_][A-Z0-9_]*)", text))
    names |= set(
        re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", (REPO / "deploy" / "release.sh").read_text())
    )
    return names


def test_env_example_lists_every_variable_the_stack_reads():
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.MULTILINE))
    set_by_compose = set(
        re.findall(r"[A-Z_]+", example.split("Set by docker-compose.yml")[1].splitlines()[1])
    )
    read = _variables_the_stack_reads()
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "POSTGRES_PASSWORD", "DATABASE_REPLICA_URL"} <= read
    # Fixed by the image (Dockerfile ENV), ignored by the production settings (DEBUG), or
    # where the .env file itself is (DJANGO_ENV_FILE).
    not_configuration = {"STATIC_ROOT", "PORT", "DEBUG", "DJANGO_ENV_FILE"}
    missing = read - listed - set_by_compose - not_configuration
    assert not missing, f".env.example does not list: {sorted(missing)}"


def test_env_example_variables_parse_as_the_settings_expect(tmp_path):
    from tests.deploy.conftest import production_env, run_in_django

    example = (REPO / ".env.example").read_text(encoding="utf-8")
    values = {
        name: value.strip('"')  # compose, django-environ and sh all drop the quotes
        for name, value in re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", example, re.MULTILINE)
    }
    values["SECRET_KEY"] = "x" * 60  # the example leaves it for you to generate
    result = run_in_django(
        "from django.conf import settings; print(settings.POINT_VALUE_FLOOR_FEN)",
        production_env(tmp_path, **values),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == values["POINT_VALUE_FLOOR_FEN"]


def _compose_command() -> list[str] | None:
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        probe = subprocess.run([*command, "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0 and "version v1." not in probe.stdout.lower():
            return command
    return None


def test_docker_compose_config_accepts_the_file():
    command = _compose_command()
    if command is None:
        pytest.skip(
            "no Compose v2 here: the docker client has no `compose` plugin and there is no "
            "docker-compose binary (the YAML checks above still ran)"
        )
    result = subprocess.run(
        [*command, "--project-directory", str(REPO), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")},
    )
    assert result.returncode == 0, result.stderr


# --- Least privilege: only the release step connects as the owner ------------------------

OWNER_ENVIRONMENTS = [
    {},  # no .env: make test's trust set-up
    {"POSTGRES_USER": "jifen", "POSTGRES_PASSWORD": "0a1b", "APP_DB_PASSWORD": "9f8e"},
    {"POSTGRES_USER": "owner", "APP_DB_USER": "points_app", "APP_DB_PASSWORD": "9f8e"},
]
SUPERUSERS = {"postgres"}  # the image's default superuser; POSTGRES_USER is one too


def _database_user(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).username or ""


@pytest.mark.parametrize("environment", OWNER_ENVIRONMENTS)
def test_long_running_services_never_connect_as_the_owner_or_a_superuser(compose, environment):
    configured = interpolate(compose, environment)
    owner = configured["services"]["db"]["environment"]["POSTGRES_USER"]
    for name in LONG_RUNNING - {"db", "redis"}:
        url = configured["services"][name]["environment"]["DATABASE_URL"]
        user = _database_user(url)
        assert user, f"{name} connects with no user name: {url}"
        assert user != owner, f"{name} connects as the owner {owner}"
        assert user not in SUPERUSERS, f"{name} connects as the superuser {user}"


@pytest.mark.parametrize("environment", OWNER_ENVIRONMENTS)
def test_the_release_step_migrates_as_the_owner(compose, environment):
    configured = interpolate(compose, environment)
    owner = configured["services"]["db"]["environment"]["POSTGRES_USER"]
    url = configured["services"]["migrate"]["environment"]["DATABASE_URL"]
    assert _database_user(url) == owner


def test_the_release_step_creates_and_grants_the_application_role():
    release = (REPO / "deploy" / "release.sh").read_text(encoding="utf-8")
    lines = [line.strip() for line in release.splitlines() if line.startswith("python")]
    assert lines.index("python manage.py migrate --noinput") < lines.index(
        "python manage.py db_app_role"
    )


def test_deploy_docs_run_long_running_services_as_the_application_role():
    docs = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "db_app_role" in docs and "jifen_app" in docs
    for line in re.findall(r"^DATABASE_URL=.*$", docs, re.MULTILINE):
        assert _database_user(line.split("=", 1)[1]) not in SUPERUSERS | {"jifen", "jifen_owner"}
