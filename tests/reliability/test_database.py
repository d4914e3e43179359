"""The database protects the ledger too (issue 11, parts 6 and 7): the production role set-up
of docs/operations.md, applied to the test database; and a dump restored into a fresh
database that `verify_ledger` accepts."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import ProgrammingError, connection, transaction
from django.utils import timezone

from config.db import client_program, database_url, libpq_env
from points.models import LedgerTransaction
from points.services.purchases import LineRequest, purchase_record
from points.services.sealing import ledger_seal
from tests.conftest import assert_ledger_invariants
from tests.points.conftest import make_shop
from tests.points.helpers import standard

ROOT = Path(__file__).resolve().parents[2]
LEDGER_TABLES = (
    "points_ledgertransaction",
    "points_ledgerentry",
    "points_lotallocation",
    "points_ledgerseal",
)


def role_sql(role: str) -> str:
    """The SQL block of docs/operations.md, for `role` instead of jifen_app."""
    text = (ROOT / "docs/operations.md").read_text()
    block = re.search(r"<!-- app-role-sql -->\s*```sql\n(.*?)```", text, re.S).group(1)
    return block.replace("jifen_app", role)


def superuser_sql(sql: str):
    with connection.cursor() as cursor:
        cursor.execute(sql)


@pytest.fixture
def app_role(transactional_db):
    role = f"jifen_app_test_{secrets.token_hex(4)}"
    superuser_sql(f"CREATE ROLE {role} LOGIN")
    superuser_sql(role_sql(role))
    original = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["USER"] = role
    connection.settings_dict["OPTIONS"] = {
        k: v for k, v in original.get("OPTIONS", {}).items() if k != "options"
    }
    try:
        yield role
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)
        superuser_sql(f"DROP OWNED BY {role}")
        superuser_sql(f"DROP ROLE {role}")


def test_the_application_role_posts_but_cannot_rewrite_the_ledger(app_role, make_member):
    # Data as the owner would have it (members, a shop), then the app works as the role.
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == app_role
    terminal = make_shop("role-shop", "jf_role_key_0001")
    member = make_member()
    with transaction.atomic():
        purchase_record(
            merchant=terminal.store.merchant,
            member=member,
            receipt_no="ROLE-1",
            occurred_at=timezone.now(),
            terminal=terminal,
            lines=[LineRequest(line_no=1, quantity=1, amount_fen=8800, category="pens")],
        )
    ledger_seal()
    assert standard(member).balance == 88 + 100
    assert LedgerTransaction.objects.filter(reference="ROLE-1").count() == 1
    assert_ledger_invariants()

    refused = []
    for table in LEDGER_TABLES:
        for statement in (
            f"UPDATE {table} SET id = id",
            f"DELETE FROM {table}",
            f"TRUNCATE {table} CASCADE",
        ):
            with pytest.raises(ProgrammingError, match="permission denied"):
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(statement)
            refused.append(statement)
    assert len(refused) == 12
    assert LedgerTransaction.objects.filter(reference="ROLE-1").count() == 1


def test_a_dump_restored_into_a_fresh_database_verifies(transactional_db, make_member, tmp_path):
    terminal = make_shop("dump-shop", "jf_dump_key_0001")
    members = [make_member() for _ in range(3)]
    for n, member in enumerate(members * 2):
        purchase_record(
            merchant=terminal.store.merchant,
            member=member,
            receipt_no=f"DUMP-{n}",
            occurred_at=timezone.now(),
            terminal=terminal,
            lines=[LineRequest(line_no=1, quantity=2, amount_fen=1000 + n * 100, category="pens")],
        )
    ledger_seal()
    assert_ledger_invariants()
    # The server Django reaches, and the client programs of its version (config/db.py).
    client_env = {**os.environ, **libpq_env()}
    dump = tmp_path / "jifen.dump"
    fresh = f"jifen_restore_{secrets.token_hex(4)}"
    subprocess.run(
        [client_program("pg_dump"), "--format=custom", "--no-owner", f"--file={dump}"],
        check=True,
        timeout=120,
        env=client_env,
    )
    subprocess.run([client_program("createdb"), fresh], check=True, timeout=60, env=client_env)
    try:
        subprocess.run(
            [client_program("pg_restore"), "--no-owner", f"--dbname={fresh}", str(dump)],
            check=True,
            timeout=120,
            env=client_env,
        )
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(dbname=fresh),
        }
        result = subprocess.run(
            [sys.executable, "manage.py", "verify_ledger"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        count = subprocess.run(
            [
                client_program("psql"),
                "-d",
                fresh,
                "-tAc",
                "SELECT count(*) FROM points_ledgertransaction WHERE kind = 'earn'",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
            env=client_env,
        )
        assert int(count.stdout.strip()) == 6
    finally:
        subprocess.run(
            [client_program("dropdb"), "--if-exists", fresh], check=True, timeout=60, env=client_env
        )
