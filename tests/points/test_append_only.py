"""Ledger rows cannot be changed or removed, even with raw SQL."""

import pytest
from django.db import DatabaseError, connection, transaction

from points.models import LedgerEntry
from tests.points.helpers import earn

pytestmark = pytest.mark.django_db

LEDGER_TABLES = ["points_ledgerentry", "points_ledgertransaction", "points_lotallocation"]


@pytest.fixture
def posted(make_member, issuer, merchant):
    from tests.points.helpers import spend

    member = make_member()
    earn(member, issuer, 100)
    return spend(member, merchant, 40)


@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_raw_update_of_a_ledger_row_is_refused(posted, table):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            column = "reason" if table == "points_ledgertransaction" else "points"
            value = "'tampered'" if column == "reason" else "1"
            cursor.execute(f"UPDATE {table} SET {column} = {value}")


@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_raw_delete_of_a_ledger_row_is_refused(posted, table):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table}")
    assert LedgerEntry.objects.exists()


def test_orm_update_of_an_entry_is_refused(posted):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            LedgerEntry.objects.filter(transaction=posted).update(points=0)


def test_truncate_is_refused_without_the_test_flag(posted):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks in the way
            cursor.execute("SET LOCAL jifen.allow_truncate = 'off'")
            cursor.execute("TRUNCATE points_ledgerentry CASCADE")
