"""The earn path's statements are prepared on the server through Django's own psycopg
OPTIONS (`server_side_binding`, `prepare_threshold`), not through private cursor APIs."""

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from points.services.purchases import LineRequest, purchase_record
from tests.points.conftest import make_shop

pytestmark = pytest.mark.django_db


def _server_prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_connection_binds_on_the_server_and_prepares_repeated_statements():
    assert settings.DATABASE_PREPARED_STATEMENTS is True
    connection.ensure_connection()
    assert connection.features.uses_server_side_binding
    assert connection.connection.prepare_threshold == settings.PREPARE_THRESHOLD


def test_repeat_purchases_run_as_a_prepared_statement(make_member, ledger_ok):
    # Given a member who has bought before
    terminal = make_shop("prep-shop", "jf_prep_key_0001")
    member = make_member()

    def buy(n: int) -> None:
        purchase_record(
            merchant=terminal.store.merchant,
            member=member,
            receipt_no=f"PREP-{n}",
            occurred_at=timezone.now(),
            terminal=terminal,
            lines=[LineRequest(line_no=1, quantity=1, amount_fen=1000, category="pens")],
        )

    buy(0)
    # When they buy more often than the prepare threshold
    for n in range(1, settings.PREPARE_THRESHOLD + 2):
        buy(n)
    # Then the one-statement posting is among the server's prepared statements
    prepared = _server_prepared_statements()
    assert any("points_ledgertransaction" in text and "INSERT" in text for text in prepared)
    ledger_ok()
