"""The tamper-evident hash chain over ledger transactions.

Sealing runs periodically, off the write path. It appends every committed transaction that
has no seal yet, in id order within a run; a transaction that commits late with a lower id
is simply picked up by the next run (the chain's order is the seal's own id), so it is never
skipped. It reads and inserts seals only, so writers are never blocked.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC

from django.db import connection, transaction
from django.db.models import Prefetch, QuerySet

from points.models import LedgerEntry, LedgerSeal, LedgerTransaction, LotAllocation

GENESIS_HASH = "0" * 64
_SEAL_LOCK_ID = 0x4A4946454E  # "JIFEN": one sealer at a time


def canonical_text(txn: LedgerTransaction) -> str:
    """The row text a seal covers: the transaction, its entries and its lot allocations.

    `txn` must have `entries` and `allocations` prefetched (see `sealable_transactions`).
    """
    document = {
        "id": txn.pk,
        "kind": txn.kind,
        "idempotency_key": txn.idempotency_key,
        "merchant": txn.merchant_id,
        "member": txn.member_id,
        "reference": txn.reference,
        "reason": txn.reason,
        "actor": txn.actor,
        "breakdown": txn.breakdown,
        "reverses": txn.reverses_id,
        "created_at": txn.created_at.astimezone(UTC).isoformat(),
        "entries": sorted([e.account_id, e.points] for e in txn.entries.all()),
        "allocations": sorted([a.lot_id, a.points] for a in txn.allocations.all()),
    }
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def seal_hash(prev_hash: str, txn: LedgerTransaction) -> str:
    return hashlib.sha256((prev_hash + canonical_text(txn)).encode()).hexdigest()


def with_sealed_rows(queryset: QuerySet[LedgerTransaction]) -> QuerySet[LedgerTransaction]:
    return queryset.prefetch_related(
        Prefetch(
            "entries", queryset=LedgerEntry.objects.only("transaction_id", "account_id", "points")
        ),
        Prefetch(
            "allocations", queryset=LotAllocation.objects.only("transaction_id", "lot_id", "points")
        ),
    )


def ledger_seal(*, batch_size: int = 2000) -> int:
    """Seal every unsealed committed transaction; return how many were sealed."""
    sealed = 0
    while True:
        count = _seal_batch(batch_size)
        sealed += count
        if count < batch_size:
            return sealed


def _seal_batch(batch_size: int) -> int:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_SEAL_LOCK_ID])
            if not cursor.fetchone()[0]:
                return 0  # another sealer is at work; it will seal these
        last = LedgerSeal.objects.order_by("-id").only("hash").first()
        prev_hash = last.hash if last else GENESIS_HASH
        unsealed = with_sealed_rows(
            LedgerTransaction.objects.filter(seal__isnull=True).order_by("id")[:batch_size]
        )
        seals = []
        for txn in unsealed:
            digest = seal_hash(prev_hash, txn)
            seals.append(LedgerSeal(transaction=txn, prev_hash=prev_hash, hash=digest))
            prev_hash = digest
        LedgerSeal.objects.bulk_create(seals)
        return len(seals)
