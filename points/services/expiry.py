"""Expiring points whose lots are past `expires_at`.

`points_expire_due` is the daily job (the `expire_points` command and a Celery beat task).
It walks the member accounts with due lots in ascending id order, in batches
of `batch_size` accounts, each batch one database transaction of a few set-based statements
(`ledger_expire_due_batch`). Because every batch commits on its own and each expiry's
idempotency key names the account's version, a run that crashes half-way is simply run
again; accounts held by another worker are skipped (`FOR UPDATE SKIP LOCKED`) and, if still
due when the sweep ends, taken in a second sweep that waits for their locks.
`account_expire` expires one account through the general ledger path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from points.models import Account, LedgerTransaction, PointLot
from points.services.accounts import expiry_account
from points.services.ledger import (
    EXPIRY_REASON,
    Posting,
    expiry_idempotency_key,
    ledger_expire_due_batch,
    ledger_post,
)

DEFAULT_BATCH_SIZE = 1000


@dataclass
class ExpiryRun:
    """What one run of the expiry job did."""

    transactions: int = 0
    points: int = 0
    lots: int = 0
    batches: int = 0


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
            idempotency_key=expiry_idempotency_key(account.pk, locked.version),
            postings=[Posting(locked, -due), Posting(expiry_account(), due)],
            member=account.member,
            reason=EXPIRY_REASON,
            expired_lots_only=True,
            now=now,
        )


def points_expire_due(
    *, now: datetime | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> ExpiryRun:
    """Expire every lot past due: one `expire` transaction per member account per run."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    now = now or timezone.now()
    return _expire_in_batches(now=now, batch_size=batch_size)


def _expire_in_batches(*, now: datetime, batch_size: int) -> ExpiryRun:
    run = ExpiryRun()
    expiry_account_id = expiry_account().pk
    skip_locked, skipped = True, 0
    while True:
        cursor = 0
        while True:
            batch = ledger_expire_due_batch(
                now=now,
                batch_size=batch_size,
                after_account_id=cursor,
                skip_locked=skip_locked,
                expiry_account_id=expiry_account_id,
            )
            if not batch.candidates:
                break
            run.batches += 1
            run.transactions += batch.transactions
            run.points += batch.points
            run.lots += batch.lots
            skipped += batch.skipped
            cursor = batch.last_account_id
        if not skip_locked or not skipped:
            return run
        # Some accounts were held by another transaction: whatever is still due on them
        # (a concurrent expiry run will have taken its share) is taken now, waiting for locks.
        skip_locked = False


def _expire_account_by_account(*, now: datetime, batch_size: int) -> ExpiryRun:
    """The general path: each due account through `account_expire` (one `ledger_post`).
    Not run in production; the differential test holds `_expire_in_batches` equal to it."""
    run = ExpiryRun()
    cursor = 0
    while True:
        account_ids = list(
            PointLot.objects.filter(remaining__gt=0, expires_at__lte=now, account_id__gt=cursor)
            .order_by("account_id")
            .values_list("account_id", flat=True)
            .distinct()[:batch_size]
        )
        if not account_ids:
            return run
        run.batches += 1
        for account in Account.objects.filter(pk__in=account_ids).order_by("pk"):
            txn = account_expire(account=account, now=now)
            if txn is not None and not txn.replayed:
                expired = -txn.entries.get(account=account).points
                run.transactions += 1
                run.points += expired
                run.lots += txn.allocations.count()
        cursor = account_ids[-1]
