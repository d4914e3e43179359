"""Expiring points whose lots are past `expires_at`."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from points.models import Account, LedgerTransaction, PointLot
from points.services.accounts import expiry_account
from points.services.ledger import Posting, ledger_post


def account_expire(*, account: Account, now: datetime | None = None) -> LedgerTransaction | None:
    """Expire every lot of `account` that is past due; one transaction, or None if nothing is."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        due = PointLot.objects.filter(
            account=account, remaining__gt=0, expires_at__lte=now
        ).aggregate(total=Sum("remaining"))["total"]
        if not due:
            return None
        return ledger_post(
            kind=LedgerTransaction.Kind.EXPIRE,
            # The account's version names this state exactly: the same sweep twice is one.
            idempotency_key=f"expire:{account.pk}:v{locked.version}",
            postings=[Posting(locked, -due), Posting(expiry_account(), due)],
            member=account.member,
            reason="points past their expiry date",
            expired_lots_only=True,
            now=now,
        )


def points_expire_due(*, now: datetime | None = None) -> tuple[int, int]:
    """Expire every account with lots past due; returns (transactions, points)."""
    now = now or timezone.now()
    account_ids = (
        PointLot.objects.filter(remaining__gt=0, expires_at__lte=now)
        .values_list("account_id", flat=True)
        .distinct()
        .order_by("account_id")
    )
    transactions = points = 0
    for account in Account.objects.filter(pk__in=list(account_ids)).order_by("pk"):
        txn = account_expire(account=account, now=now)
        if txn is not None and not txn.replayed:
            transactions += 1
            points += -txn.entries.get(account=account).points
    return transactions, points
