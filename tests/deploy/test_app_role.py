"""`manage.py db_app_role`: the release step creates the append-only application role once
and grants it on every run; bad role names are refused with one clear line."""

import secrets
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from points.db_roles import APP_ROLE_GRANTS
from tests.deploy.conftest import REPO

pytestmark = pytest.mark.django_db(transaction=True)


def drop(role):
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {role}")
        cursor.execute(f"DROP ROLE {role}")


def privileges(role, table):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND table_name = %s",
            [role, table],
        )
        return {row[0] for row in cursor.fetchall()}


def test_the_role_is_created_once_and_granted_append_only_on_the_ledger(monkeypatch):
    role = f"jifen_app_t{secrets.token_hex(4)}"
    monkeypatch.setenv("APP_DB_PASSWORD", "9f8e7d6c")
    try:
        first, second = StringIO(), StringIO()
        call_command("db_app_role", role=role, stdout=first, stderr=StringIO())
        call_command("db_app_role", role=role, stdout=second, stderr=StringIO())

        assert "created" in first.getvalue() and "already existed" in second.getvalue()
        assert privileges(role, "points_ledgerentry") == {"SELECT", "INSERT"}
        assert {"SELECT", "INSERT", "UPDATE", "DELETE"} <= privileges(role, "points_member")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles "
                "WHERE rolname = %s",
                [role],
            )
            assert cursor.fetchone() == (False, False, False, True)
    finally:
        drop(role)


def test_no_password_is_said_on_stderr(monkeypatch):
    role = f"jifen_app_t{secrets.token_hex(4)}"
    monkeypatch.delenv("APP_DB_PASSWORD", raising=False)
    errors = StringIO()
    try:
        call_command("db_app_role", role=role, stdout=StringIO(), stderr=errors)
        assert "APP_DB_PASSWORD is empty" in errors.getvalue()
    finally:
        drop(role)


@pytest.mark.parametrize(
    "role",
    [
        "",
        "Jifen_App",
        "1app",
        "app; DROP TABLE points_member",
        'app"x',
        "a" * 64,
        "a" * 100_000,
        "-1",
        "应用",
        "\udcff\udcfe",  # non-UTF-8 bytes as the command line passes them
    ],
)
def test_a_bad_role_name_is_refused(role):
    with pytest.raises(CommandError, match="role name"):
        call_command("db_app_role", role=role, stdout=StringIO())


def test_the_grants_are_the_block_docs_operations_shows():
    import re

    text = (REPO / "docs/operations.md").read_text()
    block = re.search(r"<!-- app-role-sql -->\s*```sql\n(.*?)```", text, re.S).group(1)
    assert block == APP_ROLE_GRANTS


def test_the_password_never_comes_from_the_command_line():
    from points.management.commands.db_app_role import Command

    parser = Command().create_parser("manage.py", "db_app_role")
    assert "--password" not in {o for a in parser._actions for o in a.option_strings}
