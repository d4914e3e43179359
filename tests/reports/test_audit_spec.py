"""An independent implementation of docs/audit.md, written from that page alone: it reads
the ledger's tables with plain SQL (no product code) and must agree with every seal."""

import base64
import hashlib
import json
import re
from datetime import UTC
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.db import connection
from django.test import TestCase

from points.models import LedgerCheckpoint, LedgerSeal
from tests.reports.audit_history import build_history

pytestmark = pytest.mark.django_db
SPEC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


def canonical(document) -> str:
    # "keys sorted ... no whitespace ... non-ASCII characters written as themselves"
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def z_time(moment) -> str | None:
    # "times as UTC with microseconds and a Z"
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def document_v2(txn_id: int) -> dict:
    ((kind, key, merchant, member_no, reference, reason, actor, breakdown, reverses, created),) = (
        rows(
            "SELECT t.kind, t.idempotency_key, t.merchant_id, m.member_no, t.reference,"
            " t.reason, t.actor, t.breakdown::text, t.reverses_id, t.created_at"
            " FROM points_ledgertransaction t LEFT JOIN points_member m ON m.id = t.member_id"
            " WHERE t.id = %s",
            [txn_id],
        )
    )
    entries = rows(
        "SELECT a.code, e.points FROM points_ledgerentry e"
        " JOIN points_account a ON a.id = e.account_id WHERE e.transaction_id = %s",
        [txn_id],
    )
    lots = rows(
        "SELECT l.id, a.code, l.points, l.expires_at FROM points_pointlot l"
        " JOIN points_account a ON a.id = l.account_id WHERE l.transaction_id = %s",
        [txn_id],
    )
    allocations = rows(
        "SELECT lot_id, points FROM points_lotallocation WHERE transaction_id = %s", [txn_id]
    )
    return {
        "v": 2,
        "id": txn_id,
        "kind": kind,
        "idempotency_key": key,
        "merchant": merchant,
        "member": member_no,
        "reference": reference,
        "reason": reason,
        "actor": actor,
        "breakdown": json.loads(breakdown),
        "reverses": reverses,
        "created_at": z_time(created),
        "entries": sorted([code, points] for code, points in entries),
        "lots": sorted([i, code, points, z_time(due)] for i, code, points, due in lots),
        "allocations": sorted([lot, points] for lot, points in allocations),
    }


@pytest.fixture
def history(shop_a, shop_b, make_member, settings):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return build_history(shop_a, shop_b, make_member, settings)


def test_an_independent_implementation_agrees_with_every_seal(history):
    prev_hash = "0" * 64
    seals = rows(
        "SELECT transaction_id, prev_hash, hash, seal_version FROM points_ledgerseal ORDER BY id"
    )
    assert len(seals) >= 15  # every kind of the history
    for txn_id, stored_prev, stored_hash, version in seals:
        assert version == 2
        assert stored_prev == prev_hash
        text = canonical(document_v2(txn_id))
        prev_hash = hashlib.sha256((prev_hash + text).encode("utf-8")).hexdigest()
        assert stored_hash == prev_hash, txn_id


def test_every_checkpoint_verifies_as_the_spec_says(history, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("ledger_public_key", stdout=out, stderr=StringIO())
    key = load_pem_public_key(out.getvalue().encode())
    hashes = [h for (h,) in rows("SELECT hash FROM points_ledgerseal ORDER BY id")]
    for checkpoint in LedgerCheckpoint.objects.order_by("seq"):
        message = canonical(
            {
                "seq": checkpoint.seq,
                "head_hash": checkpoint.head_hash,
                "sealed_count": checkpoint.sealed_count,
                "at": z_time(checkpoint.at),
            }
        )
        key.verify(base64.b64decode(checkpoint.signature), message.encode("utf-8"))
        assert hashes[checkpoint.sealed_count - 1] == checkpoint.head_hash
        raw = key.public_bytes(*_raw())
        assert checkpoint.key_id == hashlib.sha256(raw).hexdigest()[:16]


def _raw():
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.Raw, serialization.PublicFormat.Raw


def test_the_worked_example_in_the_spec_is_true():
    spec = SPEC.read_text(encoding="utf-8")
    canonicals = re.findall(r"^canonical = (\{.*\})$", spec, re.M)
    chained = re.findall(
        r'^sha256\("([0-9a-f]{64})" \+ canonical\)\n  = ([0-9a-f]{64})$', spec, re.M
    )
    assert len(canonicals) == len(chained) == 2
    for text, (prev_hash, expected) in zip(canonicals, chained, strict=True):
        assert canonical(json.loads(text)) == text  # the example is itself canonical
        assert hashlib.sha256((prev_hash + text).encode("utf-8")).hexdigest() == expected
    assert chained[1][0] == chained[0][1]  # the second links to the first
    message = re.search(r"^message   = (\{.*\})$", spec, re.M).group(1)
    signature = re.search(r"^signature = (\S+)$", spec, re.M).group(1)
    pem = re.search(r"(-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----)", spec, re.S)
    key = load_pem_public_key(pem.group(1).encode())
    key.verify(base64.b64decode(signature), message.encode("utf-8"))
    assert json.loads(message)["head_hash"] == chained[1][1]


def test_seal_version_1_stays_verifiable(history):
    """A version-1 seal (the format before lots were sealed) is checked with its own formula."""
    from django.utils import timezone

    from points.models import LedgerTransaction
    from points.selectors import ledger_verify
    from points.services.sealing import canonical_text, with_sealed_rows
    from tests.reports.conftest import buy

    purchase = buy(history["ann"], history["reward"].merchant, [("pens", 1, 1500)], timezone.now())
    old = with_sealed_rows(LedgerTransaction.objects.filter(pk=purchase.transaction_id)).get()
    last = LedgerSeal.objects.order_by("-id").first()
    text = canonical_text(old, 1)
    LedgerSeal.objects.create(
        transaction=old,
        prev_hash=last.hash,
        hash=hashlib.sha256((last.hash + text).encode()).hexdigest(),
        seal_version=1,
    )
    assert '"v"' not in text and f'"member":{history["ann"].pk}' in text

    report = ledger_verify(reconcile=False)

    assert report.ok, report.problems
    assert report.unsealed == 0
