"""The documents behind redeem, redeem_cancel and compensation (points.reconciliation).

Each such transaction must be the ledger side of one Redemption: its debit (or credit)
equals the redemption's snapshotted price (points_total) or its compensation, for the same
member at the same merchant.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import F, Q, QuerySet

from points.models import Account
from points.reconciliation import KindRule, entry_total, kind_rule_register

K = Account.Kind
SPEND_ACCOUNTS = frozenset({K.STANDARD, K.REDEMPTION})


def _check(txns: QuerySet, link: str, expected: str, sign: int) -> Iterator[tuple[int, str]]:
    for txn_id in txns.filter(**{f"{link}__isnull": True}).values_list("id", flat=True):
        yield txn_id, "no redemption behind it"
    disagreeing = (
        txns.filter(**{f"{link}__isnull": False})
        .annotate(standard=entry_total([K.STANDARD]))
        .filter(
            ~Q(standard=sign * F(f"{link}__{expected}"))
            | ~Q(member_id=F(f"{link}__member_id"))
            | ~Q(merchant_id=F(f"{link}__merchant_id"))
        )
        .values_list("id", f"{link}__pk")
    )
    for txn_id, redemption_id in disagreeing:
        yield (
            txn_id,
            f"disagrees with redemption {redemption_id} (price snapshot, member or merchant)",
        )


def _redeem(txns):
    return _check(txns, "redemption", "points_total", -1)


def _cancel(txns):
    return _check(txns, "cancelled_redemption", "points_total", 1)


def _compensation(txns):
    return _check(txns, "compensated_redemption", "compensation_points", 1)


def register_kind_rules() -> None:
    kind_rule_register("redeem", KindRule(SPEND_ACCOUNTS, _redeem, document_name="redemption"))
    kind_rule_register(
        "redeem_cancel", KindRule(SPEND_ACCOUNTS, _cancel, document_name="redemption")
    )
    kind_rule_register(
        "compensation",
        KindRule(frozenset({K.STANDARD, K.ISSUANCE}), _compensation, document_name="redemption"),
    )
