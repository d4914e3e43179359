"""`green_activity` in the ledger's reconciliation table (points/reconciliation.py): each
transaction is backed by a present check-in of a confirmed activity that names it, for the
same member and the same points, with the activity as its reference."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat

from points.models import Account
from points.reconciliation import KindRule, entry_total, kind_rule_register

K = Account.Kind
ACTIVITY_ACCOUNTS = frozenset({K.GREEN, K.ACTIVITY_ISSUANCE})


def _attendance(txns: QuerySet) -> Iterator[tuple[int, str]]:
    for txn_id in txns.filter(activity_check_in__isnull=True).values_list("id", flat=True):
        yield txn_id, "no confirmed attendance behind it"
    disagreeing = (
        txns.filter(activity_check_in__isnull=False)
        .annotate(
            green=entry_total([K.GREEN]),
            expected_reference=Concat(
                Value("activity:"),
                Cast("activity_check_in__activity_id", CharField()),
                output_field=CharField(),
            ),
        )
        .filter(
            ~Q(green=F("activity_check_in__points_awarded"))
            | ~Q(member_id=F("activity_check_in__member_id"))
            | Q(activity_check_in__present=False)
            | Q(activity_check_in__activity__confirmed_at__isnull=True)
            | ~Q(reference=F("expected_reference"))
        )
        .values_list("id", "activity_check_in__activity_id")
    )
    for txn_id, activity_id in disagreeing:
        yield txn_id, f"disagrees with its attendance at activity {activity_id}"


def register_kind_rules() -> None:
    kind_rule_register(
        "green_activity",
        KindRule(ACTIVITY_ACCOUNTS, _attendance, document_name="confirmed attendance"),
    )
