"""Layers (issue 21, part 6): services never import tasks (tasks call services), so there
is no import circle such as points/services/notifications.py <-> points/tasks.py."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE_DIRS = [ROOT / app / "services" for app in ("points", "redemption", "reports")]


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_no_service_imports_a_tasks_module_even_inside_a_function():
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imported_modules(path) if "tasks" in m)
        for directory in SERVICE_DIRS
        for path in directory.glob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_email_task_a_service_queues_by_name_is_registered():
    from config.celery_app import app
    from points.services.notifications import SEND_NOTIFICATION_EMAIL_TASK
    from points.tasks import send_notification_email

    assert app.tasks[SEND_NOTIFICATION_EMAIL_TASK].name == send_notification_email.name


APPS_LEFT_OF = {
    "merchants": set(),
    "points": {"merchants"},
    "activities": {"merchants", "points"},
    "redemption": {"merchants", "points"},
    "reports": {"merchants", "points", "activities", "redemption"},
}


def test_apps_import_only_the_apps_to_their_left():
    offenders = []
    for app, allowed in APPS_LEFT_OF.items():
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for module in _imported_modules(path):
                other = module.split(".")[0]
                if other in APPS_LEFT_OF and other != app and other not in allowed:
                    offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []
