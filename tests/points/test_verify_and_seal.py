"""verify_ledger finds tampering; seal_ledger builds the chain and never skips a late commit."""

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction

from points.models import Account, LedgerSeal, LedgerTransaction
from points.selectors import ledger_verify
from points.services.sealing import GENESIS_HASH, ledger_seal
from tests.points.helpers import earn, spend, standard


@pytest.fixture
def history(db, make_member, issuer, merchant):
    member = make_member()
    for points in (100, 50, 25):
        earn(member, issuer, points)
    spend(member, merchant, 60)
    return member


def _verify_fails_with(capsys, text):
    with pytest.raises(CommandError):
        call_command("verify_ledger")
    err = capsys.readouterr().err
    assert text in err, err


def test_verify_ledger_passes_on_a_clean_ledger(db, capsys):
    call_command("seed_demo")  # purchases with their documents: reconciliation holds too
    call_command("seal_ledger")
    call_command("verify_ledger")
    assert "Ledger OK" in capsys.readouterr().out


def test_seals_form_a_chain_from_genesis(history):
    assert ledger_seal() == 4
    seals = list(LedgerSeal.objects.order_by("id"))
    assert seals[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in zip(seals, seals[1:], strict=False))
    assert ledger_seal() == 0  # nothing new


def test_a_corrupted_cached_balance_is_reported(history, capsys):
    Account.objects.filter(pk=standard(history).pk).update(balance=1_000_000)

    _verify_fails_with(capsys, f"account {standard(history).code}: cached balance 1000000")


def test_a_corrupted_sealed_row_is_reported(history, capsys):
    ledger_seal()
    victim = LedgerTransaction.objects.order_by("id").first()
    with connection.cursor() as cursor:
        # Tamper as a database owner could: switch the guard off, edit, switch it back on.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER needs no pending FK checks
        cursor.execute("ALTER TABLE points_ledgertransaction DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE points_ledgertransaction SET reason = 'tampered' WHERE id = %s", [victim.pk]
        )
        cursor.execute("ALTER TABLE points_ledgertransaction ENABLE TRIGGER USER")

    _verify_fails_with(capsys, f"(transaction {victim.pk}): hash mismatch")


def test_a_corrupted_sealed_entry_is_reported_as_unbalanced_and_tampered(history, capsys):
    ledger_seal()
    victim = LedgerTransaction.objects.order_by("id").last()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE points_ledgerentry DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE points_ledgerentry SET points = points + 1 WHERE transaction_id = %s"
            " AND points > 0",
            [victim.pk],
        )

    report = ledger_verify(reconcile=False)
    assert f"transaction {victim.pk}: entries sum to 1, not 0" in report.problems
    assert any("hash mismatch" in p for p in report.problems)


def test_a_transaction_committing_late_with_a_lower_id_is_sealed_by_the_next_run(
    transactional_db, make_member, issuer
):
    early_member, late_member = make_member(), make_member()
    inserted, release = threading.Event(), threading.Event()
    result = {}

    def slow_writer():
        try:
            with transaction.atomic(durable=True):
                result["txn"] = earn(early_member, issuer, 10)
                inserted.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert inserted.wait(10)
    quick = earn(late_member, issuer, 20)  # a higher id, committed first

    first_run = ledger_seal()
    release.set()
    thread.join(10)
    second_run = ledger_seal()

    slow = result["txn"]
    assert slow.pk < quick.pk
    assert (first_run, second_run) == (1, 1)
    assert LedgerSeal.objects.filter(transaction=slow).exists()
    report = ledger_verify(reconcile=False)  # helper postings have no documents
    assert report.ok and report.unsealed == 0, report.problems
