"""Every purchase inserts into these tables: each of their indexes costs every purchase an
index insertion, so none may duplicate what another already serves (migration 0007)."""

import pytest
from django.db import connection

WRITTEN_BY_EVERY_PURCHASE = (
    "points_ledgertransaction",
    "points_ledgerentry",
    "points_pointlot",
    "points_purchase",
    "points_purchaseline",
    "points_notification",
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("table", WRITTEN_BY_EVERY_PURCHASE)
def test_no_plain_index_is_a_prefix_of_another(table):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, indpred IS NOT NULL, indisunique, "
            "pg_get_indexdef(indexrelid) LIKE '%%_pattern_ops%%', "
            "array(SELECT attname FROM unnest(indkey) WITH ORDINALITY k(attnum, n) "
            "      JOIN pg_attribute a ON a.attrelid = indrelid AND a.attnum = k.attnum "
            "      ORDER BY n) "
            "FROM pg_index WHERE indrelid = %s::regclass",
            [table],
        )
        indexes = cursor.fetchall()
    assert indexes, f"{table} has no index at all: is this the right table?"
    for name, partial, unique, pattern_ops, columns in indexes:
        assert not pattern_ops, f"{name}: a LIKE-prefix twin nothing searches by"
        if partial or unique:
            continue  # it serves a rule (unique) or only the rows it names (partial)
        for other, other_partial, _, other_pattern_ops, other_columns in indexes:
            # A partial index serves only its rows; a pattern-ops one only LIKE.
            if other != name and not other_partial and not other_pattern_ops:
                covered = list(other_columns[: len(columns)]) == list(columns)
                assert not (covered and len(other_columns) > len(columns)), (
                    f"{name} ({', '.join(columns)}) is served by {other} "
                    f"({', '.join(other_columns)}): one more insertion per row for nothing"
                )


def test_the_rows_every_purchase_updates_leave_room_for_hot_updates():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class "
            "WHERE relname IN ('points_account', 'points_member') ORDER BY relname"
        )
        rows = cursor.fetchall()
    assert rows == [
        ("points_account", ["fillfactor=80"]),
        ("points_member", ["fillfactor=80"]),
    ]


def test_notifications_without_a_dedupe_key_stay_out_of_its_unique_index(make_member):
    """The dedupe key is still unique where it is set."""
    from django.db import IntegrityError, transaction

    from points.models import Notification

    member = make_member()
    for _ in range(2):
        Notification.objects.create(member=member, kind="points", title="x")
    Notification.objects.create(member=member, kind="points", title="y", dedupe_key="k")
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(member=member, kind="points", title="z", dedupe_key="k")
    assert Notification.objects.filter(member=member).count() == 3
