"""The append-only application database role (docs/operations.md), as the release step
creates and grants it after every migration.

The owner (the role `manage.py migrate` connects as) runs `app_role_ensure`; web, worker
and beat then connect as the application role, which may read and write ordinary tables
but only SELECT and INSERT on the ledger's.
"""

from __future__ import annotations

import re

from django.db import connection
from psycopg import sql

DEFAULT_APP_ROLE = "jifen_app"
# Unquoted PostgreSQL identifiers, lower case, at most 63 bytes: no quoting surprises.
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# The block docs/operations.md shows (a test keeps them equal), for `jifen_app`.
APP_ROLE_GRANTS = """\
GRANT USAGE ON SCHEMA public TO jifen_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO jifen_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO jifen_app;
REVOKE UPDATE, DELETE, TRUNCATE ON
    points_ledgertransaction, points_ledgerentry, points_lotallocation, points_ledgerseal,
    points_ruleversion
    FROM jifen_app;
"""


class RoleNameInvalid(ValueError):
    pass


def role_name_check(role: str) -> str:
    if not isinstance(role, str) or not ROLE_NAME.fullmatch(role):
        raise RoleNameInvalid(
            "The application role name must be 1-63 characters: lower-case letters, digits "
            "and _, not starting with a digit."
        )
    return role


def app_role_grants(role: str) -> str:
    return APP_ROLE_GRANTS.replace(DEFAULT_APP_ROLE, role_name_check(role))


def app_role_ensure(*, role: str, password: str | None) -> bool:
    """Create the application role if it is missing (idempotent), set its password, make sure
    it is no superuser, and grant it what docs/operations.md says. Returns True if created.

    Run as the owner after `migrate`, so tables a migration added are covered too.
    """
    role = role_name_check(role)
    name = sql.Identifier(role)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        created = cursor.fetchone() is None
        if created:
            cursor.execute(
                _text(
                    sql.SQL(
                        "DO $do$ BEGIN CREATE ROLE {} LOGIN; "
                        "EXCEPTION WHEN duplicate_object THEN NULL; END $do$"
                    ).format(name)
                )
            )
        alter = sql.SQL("ALTER ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(name)
        if password:
            alter = sql.SQL("{} PASSWORD {}").format(alter, sql.Literal(password))
        cursor.execute(_text(alter))
        cursor.execute(
            _text(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(connection.settings_dict["NAME"]), name
                )
            )
        )
        cursor.execute(app_role_grants(role))
    return created


def _text(statement: sql.Composable) -> str:
    """The statement as text: DDL takes no bind parameters, so values are quoted here."""
    connection.ensure_connection()
    return statement.as_string(connection.connection)
