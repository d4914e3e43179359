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
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from points.models import Account, LedgerEntry, LedgerTransaction, Notification, PointLot
from points.services.accounts import expiry_account
from points.services.ledger import (
    EXPIRY_REASON,
    Posting,
    expiry_idempotency_key,
    ledger_expire_due_batch,
    ledger_post,
)
from points.services.notifications import Message, Outgoing, notifications_send_many

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


def points_expire_and_notify(
    *, now: datetime | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> ExpiryRun:
    """The daily job: expire what is due, then tell each member what expired (after the
    batches, so telling never holds their locks). What the command and the task run."""
    now = now or timezone.now()
    run = points_expire_due(now=now, batch_size=batch_size)
    expired_points_notify(since=now - timedelta(days=1), now=now)
    return run


EXPIRED_TITLE = gettext_lazy("%(points)s points expired")
EXPIRED_GREEN_TITLE = gettext_lazy("%(points)s green points expired")
EXPIRED_BODY = gettext_lazy(
    "%(points)s of your points reached their expiry date and expired on %(date)s. Points "
    "earned later are not affected."
)


def expired_points_notify(
    *, since: datetime, now: datetime | None = None, chunk_size: int = 1000
) -> int:
    """Tell each member of every expiry posted since `since`, once (the dedupe key names the
    transaction, so a rerun or an overlapping run tells nobody twice). A few queries per
    `chunk_size` expiries. Returns how many members were told."""
    now = now or timezone.now()
    told = 0
    entries = (
        LedgerEntry.objects.filter(
            transaction__kind=LedgerTransaction.Kind.EXPIRE,
            transaction__created_at__gte=since,
            account__member__isnull=False,
            points__lt=0,
        )
        .select_related("transaction", "account__member__user")
        .order_by("transaction_id")
    )
    link = reverse("history")
    last = 0
    while True:
        chunk = list(entries.filter(transaction_id__gt=last)[:chunk_size])
        if not chunk:
            return told
        last = chunk[-1].transaction_id
        outgoing = []
        for entry in chunk:
            green = entry.account.kind == Account.Kind.GREEN
            params = {
                "points": -entry.points,
                "date": timezone.localdate(entry.transaction.created_at).isoformat(),
            }
            outgoing.append(
                Outgoing(
                    member=entry.account.member,
                    title=Message(EXPIRED_GREEN_TITLE if green else EXPIRED_TITLE, **params),
                    body=Message(EXPIRED_BODY, **params),
                    link=link,
                    dedupe_key=f"expired:{entry.transaction_id}",
                )
            )
        with transaction.atomic():
            told += notifications_send_many(
                kind=Notification.Kind.EXPIRED, outgoing=outgoing, now=now
            )
