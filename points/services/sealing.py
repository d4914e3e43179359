"""The tamper-evident hash chain over ledger transactions (specification: docs/audit.md).

Sealing runs periodically, off the write path. It appends every committed transaction that
has no seal yet, in id order within a run; a transaction that commits late with a lower id
is simply picked up by the next run (the chain's order is the seal's own id), so it is never
skipped. It reads ledger rows and inserts seals (and a signed checkpoint) only, so writers
are never blocked.

What a seal covers is versioned (`LedgerSeal.seal_version`): version 1 (the first format)
covered the transaction, its entries by account id and its allocations; version 2 covers
everything that decides a balance: the transaction, its entries by account code, the lots
it created with their `expires_at`, the allocations it consumed and its document reference.
New seals are version 2; version-1 seals stay verifiable with the version-1 formula.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Prefetch, QuerySet

from points.models import (
    LedgerEntry,
    LedgerSeal,
    LedgerTransaction,
    LotAllocation,
    PointLot,
)

GENESIS_HASH = "0" * 64
CURRENT_SEAL_VERSION = 2
SEAL_VERSIONS = (1, 2)
_SEAL_LOCK_ID = 0x4A4946454E  # "JIFEN": one sealer at a time


class UnknownSealVersion(ValueError):
    pass


def canonical_json(document) -> str:
    """JSON with sorted keys, no spaces, UTF-8 text as is (docs/audit.md, "Canonical JSON")."""
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def utc_text(moment: datetime | None) -> str | None:
    """A time as the seal writes it: UTC, microseconds, a `Z` (2026-12-05T04:09:02.123456Z)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sealed_document(txn: LedgerTransaction, version: int = CURRENT_SEAL_VERSION) -> dict:
    """What a seal of `version` covers, as a JSON-able dict.

    `txn` must come from `with_sealed_rows` (entries with accounts, lots, allocations and
    the member prefetched).
    """
    if version == 1:
        return {
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
    if version == 2:
        return {
            "v": 2,
            "id": txn.pk,
            "kind": txn.kind,
            "idempotency_key": txn.idempotency_key,
            "merchant": txn.merchant_id,
            "member": txn.member.member_no if txn.member_id else None,
            "reference": txn.reference,
            "reason": txn.reason,
            "actor": txn.actor,
            "breakdown": txn.breakdown,
            "reverses": txn.reverses_id,
            "created_at": utc_text(txn.created_at),
            "entries": sorted([e.account.code, e.points] for e in txn.entries.all()),
            "lots": sorted(
                [lot.pk, lot.account.code, lot.points, utc_text(lot.expires_at)]
                for lot in txn.lots.all()
            ),
            "allocations": sorted([a.lot_id, a.points] for a in txn.allocations.all()),
        }
    raise UnknownSealVersion(f"unknown seal version {version!r}")


def canonical_text(txn: LedgerTransaction, version: int = CURRENT_SEAL_VERSION) -> str:
    return canonical_json(sealed_document(txn, version))


def chain_hash(prev_hash: str, canonical: str) -> str:
    """sha256 over the previous hash (64 hex digits) then the canonical text, UTF-8."""
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def seal_hash(prev_hash: str, txn: LedgerTransaction, version: int = CURRENT_SEAL_VERSION) -> str:
    return chain_hash(prev_hash, canonical_text(txn, version))


def with_sealed_rows(queryset: QuerySet[LedgerTransaction]) -> QuerySet[LedgerTransaction]:
    """`queryset` of transactions with every row a seal covers fetched in a few queries."""
    return queryset.select_related("member").prefetch_related(
        Prefetch(
            "entries",
            queryset=LedgerEntry.objects.select_related("account").only(
                "transaction_id", "account_id", "points", "account__code"
            ),
        ),
        Prefetch(
            "lots",
            queryset=PointLot.objects.select_related("account").only(
                "transaction_id", "account_id", "points", "expires_at", "account__code"
            ),
        ),
        Prefetch(
            "allocations", queryset=LotAllocation.objects.only("transaction_id", "lot_id", "points")
        ),
    )


def ledger_seal(*, batch_size: int = 2000, checkpoint: bool = True) -> int:
    """Seal every unsealed committed transaction; return how many were sealed.

    Then sign a checkpoint of the new head (points.services.checkpoints) when it moved.
    """
    sealed = 0
    while True:
        count = _seal_batch(batch_size)
        sealed += count
        if count < batch_size:
            break
    if checkpoint:
        from points.services.checkpoints import checkpoint_sign

        checkpoint_sign()
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
            seals.append(
                LedgerSeal(
                    transaction=txn,
                    prev_hash=prev_hash,
                    hash=digest,
                    seal_version=CURRENT_SEAL_VERSION,
                )
            )
            prev_hash = digest
        LedgerSeal.objects.bulk_create(seals)
        return len(seals)


def seal_lock_acquire() -> bool:
    """Take the sealer's transaction-scoped advisory lock (inside an atomic block)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEAL_LOCK_ID])
    return True
