"""Tried as an auditor would: each tampering, on its own copy of a realistic ledger, is named
by verify_ledger and, where it shows in an export, by tools/verify_export.py."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import TestCase

from points.models import Account, LedgerCheckpoint, LedgerSeal, LedgerTransaction, PointLot
from points.selectors import ledger_verify
from points.services.checkpoints import checkpoint_file
from points.services.sealing import ledger_seal
from tests.reports.audit_history import (
    build_history,
    bypassing_the_guards,
    export,
    public_key_file,
    verify_export,
    verify_export_json,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(shop_a, shop_b, make_member, settings):
    with TestCase.captureOnCommitCallbacks(execute=True):  # checkpoints reach their file
        return build_history(shop_a, shop_b, make_member, settings)


def seal_now():
    with TestCase.captureOnCommitCallbacks(execute=True):
        ledger_seal()


def codes(report) -> set[str]:
    return {finding.code for finding in report.findings}


def chain() -> list[tuple[int, int]]:
    """(seal id, transaction id) in chain order."""
    return list(LedgerSeal.objects.order_by("id").values_list("id", "transaction_id"))


def sealed_earn() -> LedgerTransaction:
    sealed = LedgerSeal.objects.values("transaction_id")
    return LedgerTransaction.objects.filter(kind="earn", pk__in=sealed).order_by("id")[1]


def member_entry_id(txn) -> int:
    return txn.entries.get(account__kind="standard").pk


# --- the tamperings -------------------------------------------------------------------------


def changed_amount(history):
    with bypassing_the_guards() as cursor:
        cursor.execute(
            "UPDATE points_ledgerentry SET points = points + 7 WHERE id = %s",
            [member_entry_id(sealed_earn())],
        )


def deleted_entry(history):
    entry = sealed_earn().entries.exclude(account__kind__in=Account.MEMBER_KINDS).first()
    with bypassing_the_guards() as cursor:
        cursor.execute("DELETE FROM points_ledgerentry WHERE id = %s", [entry.pk])


DOCUMENT_LINKS = [
    ("redemption_redemption", "ledger_transaction_id"),
    ("redemption_redemption", "cancel_transaction_id"),
    ("redemption_redemption", "compensation_transaction_id"),
    ("points_adjustmentrequest", "transaction_id"),
    ("points_purchase", "transaction_id"),
    ("points_refund", "transaction_id"),
    ("points_ledgertransaction", "reverses_id"),
]


def _delete_transactions(cursor, txn_ids, *, with_seals):
    """Remove transactions and every row of theirs (documents forget them), as a thorough
    attacker would."""
    for table, column in DOCUMENT_LINKS:
        cursor.execute(f"UPDATE {table} SET {column} = NULL WHERE {column} = ANY(%s)", [txn_ids])
    cursor.execute("DELETE FROM points_lotallocation WHERE transaction_id = ANY(%s)", [txn_ids])
    cursor.execute("DELETE FROM points_pointlot WHERE transaction_id = ANY(%s)", [txn_ids])
    cursor.execute("DELETE FROM points_ledgerentry WHERE transaction_id = ANY(%s)", [txn_ids])
    if with_seals:
        cursor.execute("DELETE FROM points_ledgerseal WHERE transaction_id = ANY(%s)", [txn_ids])
    cursor.execute("DELETE FROM points_ledgertransaction WHERE id = ANY(%s)", [txn_ids])


def deleted_middle_transaction_seal_kept(history):
    victim = history["kept"].ledger_transaction_id  # a redemption in the middle of the chain
    with bypassing_the_guards() as cursor:
        _delete_transactions(cursor, [victim], with_seals=False)


def deleted_tail_with_its_seals(history):
    tail = [txn_id for _, txn_id in chain()[-2:]]
    with bypassing_the_guards() as cursor:
        _delete_transactions(cursor, tail, with_seals=True)
    seal_now()  # and sealing goes on as if nothing happened


def deleted_tail_with_its_seals_and_checkpoint(history):
    tail = [txn_id for _, txn_id in chain()[-2:]]
    with bypassing_the_guards() as cursor:
        _delete_transactions(cursor, tail, with_seals=True)
        cursor.execute("DELETE FROM points_ledgercheckpoint WHERE seq = 2")


def forged_balanced_system_to_system(history):
    """With the application role (INSERT only): points from one merchant's issuance to
    another's redemption account, sealed by the next run."""
    accounts = dict(Account.objects.filter(member__isnull=True).values_list("code", "id"))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO points_ledgertransaction (kind, idempotency_key, merchant_id, reference,"
            " reason, actor, breakdown, created_at) VALUES ('earn', 'forged-sys', %s, 'R-X',"
            " 'purchase', 'terminal:1', '{}', now()) RETURNING id",
            [history["reward"].merchant_id],
        )
        txn_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO points_ledgerentry (transaction_id, account_id, points)"
            " VALUES (%s, %s, -500), (%s, %s, 500)",
            [txn_id, accounts["issuance:shop-a"], txn_id, accounts["redemption:shop-b"]],
        )
    seal_now()


def forged_member_credit(history):
    """With the application role: a fully consistent credit (entries, lot, cached balance)
    with no purchase behind it, sealed by the next run."""
    ann = history["ann"]
    account = Account.objects.get(member=ann, kind="standard")
    issuer = Account.objects.get(code="issuance:shop-a")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO points_ledgertransaction (kind, idempotency_key, merchant_id, member_id,"
            " reference, reason, actor, breakdown, created_at) VALUES ('earn', 'forged-credit',"
            " %s, %s, 'R-FAKE', 'purchase', 'terminal:1', '{}', now()) RETURNING id",
            [issuer.merchant_id, ann.pk],
        )
        txn_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO points_ledgerentry (transaction_id, account_id, points)"
            " VALUES (%s, %s, 2393), (%s, %s, -2393)",
            [txn_id, account.pk, txn_id, issuer.pk],
        )
        cursor.execute(
            "INSERT INTO points_pointlot (account_id, transaction_id, points, remaining,"
            " expires_at, created_at) VALUES (%s, %s, 2393, 2393, NULL, now())",
            [account.pk, txn_id],
        )
        cursor.execute(
            "UPDATE points_account SET balance = balance + 2393, version = version + 1"
            " WHERE id = %s",
            [account.pk],
        )
    seal_now()


def changed_lot_expiry(history):
    lot = PointLot.objects.filter(
        remaining__gt=0, transaction__seal__isnull=False, account__kind="standard"
    ).first()
    with bypassing_the_guards() as cursor:
        cursor.execute(
            "UPDATE points_pointlot SET expires_at = now() - interval '1 day' WHERE id = %s",
            [lot.pk],
        )


def moved_created_at(history):
    with bypassing_the_guards() as cursor:
        cursor.execute(
            "UPDATE points_ledgertransaction SET created_at = created_at - interval '2 hours'"
            " WHERE id = %s",
            [sealed_earn().pk],
        )


def reordered_seals(history):
    (first_seal, first_txn), (second_seal, second_txn) = chain()[2:4]
    with bypassing_the_guards() as cursor:
        cursor.execute(
            "UPDATE points_ledgerseal SET transaction_id = -1 WHERE id = %s", [first_seal]
        )
        cursor.execute(
            "UPDATE points_ledgerseal SET transaction_id = %s WHERE id = %s",
            [first_txn, second_seal],
        )
        cursor.execute(
            "UPDATE points_ledgerseal SET transaction_id = %s WHERE id = %s",
            [second_txn, first_seal],
        )


# tampering, what verify_ledger must name, what verify_export must name (None: not in an export)
TAMPERINGS = [
    (changed_amount, {"unbalanced", "seal_hash_mismatch"}, {"unbalanced", "hash_mismatch"}),
    (deleted_entry, {"unbalanced", "seal_hash_mismatch"}, {"unbalanced", "hash_mismatch"}),
    (
        deleted_middle_transaction_seal_kept,
        {"sealed_transaction_missing"},
        {"missing_transaction"},
    ),
    (
        deleted_tail_with_its_seals,
        {"checkpoint_beyond_chain"},
        {"checkpoint_beyond_export"},
    ),
    (
        deleted_tail_with_its_seals_and_checkpoint,
        {"checkpoint_deleted", "checkpoint_beyond_chain"},
        {"checkpoint_beyond_export"},
    ),
    (
        forged_balanced_system_to_system,
        {"no_member_account", "account_not_allowed", "document_mismatch"},
        {"no_member_account", "account_not_allowed"},
    ),
    (forged_member_credit, {"document_mismatch"}, None),
    (changed_lot_expiry, {"seal_hash_mismatch"}, {"hash_mismatch"}),
    (moved_created_at, {"seal_hash_mismatch"}, {"hash_mismatch"}),
    (reordered_seals, {"seal_hash_mismatch"}, {"hash_mismatch"}),
]


def test_the_realistic_history_verifies_in_the_database_and_from_its_export(history, tmp_path):
    report = ledger_verify()
    assert report.ok, report.problems
    assert report.unsealed == 0 and report.latest_checkpoint["seq"] == 2
    kinds = set(LedgerTransaction.objects.values_list("kind", flat=True))
    assert kinds >= {"earn", "bonus", "refund", "redeem", "redeem_cancel", "compensation"}
    assert kinds >= {"adjust", "expire"}
    key = public_key_file(tmp_path)
    for file_format in ("jsonl", "csv"):
        code, out = verify_export(export(tmp_path / f"trail.{file_format}", file_format), key)
        assert code == 0, out
        assert "OK:" in out and "latest checkpoint #2" in out


@pytest.mark.parametrize(
    "tamper, ledger_codes, export_codes", TAMPERINGS, ids=[t[0].__name__ for t in TAMPERINGS]
)
def test_each_tampering_is_named(history, tmp_path, tamper, ledger_codes, export_codes):
    key = public_key_file(tmp_path)

    tamper(history)
    try:
        report = ledger_verify()  # never raises, whatever the damage
        assert ledger_codes <= codes(report), report.problems
        if export_codes is None:
            return
        trail = export(tmp_path / "trail.jsonl")
        code, result = verify_export_json(trail, key, "--checkpoints", str(checkpoint_file()))
        assert code == 1, result
        assert export_codes <= {f["code"] for f in result["findings"]}, result
    finally:
        _forget_dangling_seals()


def _forget_dangling_seals():
    """A seal of a deleted transaction breaks the foreign key checked when the test ends."""
    with bypassing_the_guards() as cursor:
        cursor.execute(
            "DELETE FROM points_ledgerseal s WHERE NOT EXISTS"
            " (SELECT 1 FROM points_ledgertransaction t WHERE t.id = s.transaction_id)"
        )


def test_a_lot_expiry_cannot_be_changed_by_the_application(history):
    lot = PointLot.objects.filter(remaining__gt=0).first()
    with pytest.raises(DatabaseError, match="lot terms are fixed"):
        with transaction.atomic():
            PointLot.objects.filter(pk=lot.pk).update(expires_at=None)


def test_the_deleted_tail_is_named_even_after_sealing_resumes_with_new_history(
    history, tmp_path, make_member, shop_a
):
    from tests.reports.conftest import buy

    deleted_tail_with_its_seals_and_checkpoint(history)
    # More new history than was deleted, so the chain grows past the deleted checkpoint's
    # length again (a purchase under the first-purchase minimum posts no bonus).
    newcomer = make_member()
    for _ in range(3):
        buy(newcomer, shop_a, [("pens", 1, 900)], history["ann"].joined_at)
    seal_now()

    report = ledger_verify()

    assert {"checkpoint_altered", "checkpoint_mismatch"} <= codes(report), report.problems


def test_verify_ledger_command_exits_1_with_named_findings_and_json(history, capsys):
    moved_created_at(history)

    with pytest.raises(CommandError) as raised:
        call_command("verify_ledger")
    assert raised.value.returncode == 1
    assert "DISCREPANCY [seal_hash_mismatch]" in capsys.readouterr().err

    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_ledger", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["ok"] is False
    assert "seal_hash_mismatch" in {f["code"] for f in data["findings"]}


def test_verify_ledger_prints_the_head_and_the_latest_checkpoint(history, capsys):
    call_command("verify_ledger")

    out = capsys.readouterr().out
    head = LedgerSeal.objects.order_by("-id").first().hash
    latest = LedgerCheckpoint.objects.order_by("-seq").first()
    assert "Ledger OK" in out and f"Chain head: {head}" in out
    assert f"Latest checkpoint: #{latest.seq}" in out and latest.head_hash in out


def test_a_check_that_cannot_run_is_a_finding_not_a_crash(history, monkeypatch):
    import points.reconciliation as reconciliation

    def broken():
        raise RuntimeError("relation points_purchase does not exist")

    monkeypatch.setattr(reconciliation, "reconciliation_findings", broken)

    report = ledger_verify()

    assert "check_failed" in codes(report)
    assert report.sealed == LedgerSeal.objects.count()  # the other checks still ran


def test_a_checkpoint_with_a_forged_signature_is_named(history, settings):
    record = json.loads(checkpoint_file().read_text().splitlines()[-1])
    record["signature"] = record["signature"][::-1]
    with open(checkpoint_file(), "a") as handle:
        handle.write(json.dumps({**record, "seq": 3}) + "\n")

    report = ledger_verify()

    assert "checkpoint_signature_invalid" in codes(report)


# --- tampering with the export file itself --------------------------------------------------


def _edit_jsonl(path, change):
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records = change(records)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def _entries(records):
    return [r for r in records if r["record"] == "entry"]


def _bump_points(records):
    _entries(records)[3]["points"] += 1
    return records


def _drop_entry(records):
    records.remove(_entries(records)[4])
    return records


def _drop_transaction(records):
    victim = _entries(records)[6]["transaction_id"]
    return [r for r in records if r.get("transaction_id") != victim]


def _drop_tail(records):
    last_seq = max(r["seq"] for r in _entries(records))
    return [r for r in records if r["record"] != "entry" or r["seq"] < last_seq - 1]


def _forge_checkpoint(records):
    checkpoint = next(r for r in records if r["record"] == "checkpoint")
    data = json.loads(checkpoint["record_data"])
    data["sealed_count"] -= 1
    checkpoint["record_data"] = json.dumps(data)
    return records


def _later_lot_expiry(records):
    row = next(r for r in _entries(records) if r["lots"] and "null" not in r["lots"])
    lots = json.loads(row["lots"])
    lots[0][3] = "2099-01-01T00:00:00.000000Z"
    for r in _entries(records):
        if r["transaction_id"] == row["transaction_id"]:
            r["lots"] = json.dumps(lots)
    return records


def _balance_after(records):
    _entries(records)[5]["balance_after"] += 10
    return records


@pytest.mark.parametrize(
    "change, expected",
    [
        (_bump_points, "unbalanced"),
        (_drop_entry, "hash_mismatch"),
        (_drop_transaction, "missing_transaction"),
        (_drop_tail, "checkpoint_beyond_export"),
        (_forge_checkpoint, "checkpoint_signature_invalid"),
        (_later_lot_expiry, "hash_mismatch"),
        (_balance_after, "balance_broken"),
    ],
)
def test_an_edited_export_file_fails(history, tmp_path, change, expected):
    key = public_key_file(tmp_path)
    trail = export(tmp_path / "trail.jsonl")
    _edit_jsonl(trail, change)

    code, result = verify_export_json(trail, key)

    assert code == 1 and expected in {f["code"] for f in result["findings"]}, result


def test_an_export_checked_against_another_key_fails(history, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = tmp_path / "other.pem"
    other.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    code, result = verify_export_json(export(tmp_path / "trail.jsonl"), other)

    assert code == 1
    assert "checkpoint_signature_invalid" in {f["code"] for f in result["findings"]}


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe not utf-8", b"{not json\n", b"a,b,c\n1,2,3\n", b'{"record": "entry"}\n'],
    ids=["empty", "not-utf8", "bad-json", "wrong-csv", "wrong-columns"],
)
def test_verify_export_refuses_an_unreadable_file_with_exit_2(history, tmp_path, content):
    key = public_key_file(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)

    code, out = verify_export(bad, key)

    assert code == 2 and "ERROR" in out


def test_verify_export_needs_a_readable_public_key(history, tmp_path):
    trail = export(tmp_path / "trail.jsonl")
    missing = tmp_path / "missing.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")

    assert verify_export(trail, missing)[0] == 2
    assert verify_export(trail, garbage)[0] == 2
