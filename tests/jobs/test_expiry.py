"""The expiry job: set-based batches, idempotent, resumable, safe with two workers."""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from points.models import Account, LedgerEntry, LedgerTransaction, PointLot
from points.selectors import account_balance_from_entries
from points.services import expiry
from points.services.accounts import expiry_account
from points.services.expiry import points_expire_due
from points.services.ledger import Overdraft
from tests.jobs.conftest import LEFT_AFTER_EXPIRY
from tests.points.helpers import earn, reverse, spend, standard

DUE_POINTS = 4 * 150 + 120  # the third member had spent 30 of its due points


def expiries_of(member):
    return LedgerTransaction.objects.filter(
        kind=LedgerTransaction.Kind.EXPIRE, entries__account=standard(member)
    )


def assert_expired_exactly_once(members):
    for member in members:
        assert standard(member).balance == LEFT_AFTER_EXPIRY
        assert expiries_of(member).count() == 1
    assert account_balance_from_entries(expiry_account()) == DUE_POINTS
    assert not PointLot.objects.filter(remaining__gt=0, expires_at__lte=timezone.now())


@pytest.mark.django_db
def test_due_lots_expire_into_the_expiry_account_one_transaction_per_member(due_members, ledger_ok):
    run = points_expire_due()

    assert (run.transactions, run.points, run.lots) == (5, DUE_POINTS, 10)
    assert_expired_exactly_once(due_members)
    txn = expiries_of(due_members[2]).get()
    assert sorted(txn.entries.values_list("points", flat=True)) == [-120, 120]
    assert sorted(txn.allocations.values_list("points", flat=True)) == [50, 70]
    ledger_ok()


@pytest.mark.django_db
def test_lots_not_yet_due_and_lots_that_never_expire_are_left_alone(due_members):
    points_expire_due()

    for member in due_members:
        open_lots = PointLot.objects.filter(account=standard(member), remaining__gt=0)
        assert sorted(lot.points for lot in open_lots) == [10, 40]
        assert open_lots.filter(expires_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_running_twice_in_a_row_expires_once(due_members, ledger_ok):
    first = points_expire_due()
    entries_after_first = LedgerEntry.objects.count()

    second = points_expire_due()

    assert first.transactions == 5
    assert (second.transactions, second.points, second.lots) == (0, 0, 0)
    assert LedgerEntry.objects.count() == entries_after_first
    assert_expired_exactly_once(due_members)
    ledger_ok()


@pytest.mark.django_db
def test_small_batches_cover_every_member_once(due_members, ledger_ok):
    run = points_expire_due(batch_size=2)

    assert run.batches == 3
    assert run.transactions == 5
    assert_expired_exactly_once(due_members)
    ledger_ok()


@pytest.mark.django_db
def test_a_batch_costs_the_same_few_queries_however_many_lots(
    make_member, issuer, django_assert_max_num_queries, ledger_ok
):
    past = timezone.now() - timedelta(days=1)
    for _ in range(30):
        member = make_member()
        for _ in range(6):
            earn(member, issuer, 7, expires_at=past)
    expiry_account()

    # expiry account, then per batch: candidates, lock, write (+ savepoint and release).
    with django_assert_max_num_queries(12):
        run = points_expire_due(batch_size=100)

    assert (run.transactions, run.lots, run.points) == (30, 180, 30 * 6 * 7)
    ledger_ok()


@pytest.mark.django_db
def test_the_command_prints_a_summary_and_takes_a_batch_size(due_members, capsys):
    call_command("expire_points", "--batch-size", "2")

    out = capsys.readouterr().out
    assert f"Expired {DUE_POINTS} points from 10 lots in 5 transactions (3 batches" in out
    assert_expired_exactly_once(due_members)


def test_a_crash_after_the_first_batch_then_a_rerun_leaves_exactly_the_right_state(
    transactional_db, due_members, monkeypatch, ledger_ok
):
    real_batch = expiry.ledger_expire_due_batch
    calls = {"n": 0}

    def crash_on_the_second_batch(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real_batch(**kwargs)

    monkeypatch.setattr(expiry, "ledger_expire_due_batch", crash_on_the_second_batch)
    with pytest.raises(RuntimeError):
        points_expire_due(batch_size=2)
    # The first batch committed on its own; the rest is untouched.
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.EXPIRE).count() == 2
    ledger_ok()

    monkeypatch.setattr(expiry, "ledger_expire_due_batch", real_batch)
    rerun = points_expire_due(batch_size=2)

    assert rerun.transactions == 3
    assert_expired_exactly_once(due_members)
    ledger_ok()


def test_two_concurrent_runs_do_not_double_expire(transactional_db, make_member, issuer, ledger_ok):
    past = timezone.now() - timedelta(days=1)
    members = []
    for _ in range(40):
        member = make_member()
        earn(member, issuer, 30, expires_at=past)
        earn(member, issuer, 12, expires_at=past - timedelta(days=3))
        members.append(member)
    expiry_account()
    start = threading.Barrier(2)
    runs, errors = [], []

    def worker():
        try:
            start.wait(10)
            runs.append(points_expire_due(batch_size=3))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sum(run.transactions for run in runs) == 40
    assert sum(run.points for run in runs) == 40 * 42
    for member in members:
        assert standard(member).balance == 0
        assert expiries_of(member).count() == 1
    assert account_balance_from_entries(expiry_account()) == 40 * 42
    ledger_ok()


@pytest.mark.django_db
def test_a_member_in_debt_has_nothing_to_expire(make_member, issuer, merchant, ledger_ok):
    member = make_member()
    purchase = earn(member, issuer, 100, expires_at=timezone.now() + timedelta(days=1))
    spend(member, merchant, 100)
    reverse(purchase, overdraft=Overdraft.ALLOW)  # refunded after spending: a debt of 100

    run = points_expire_due(now=timezone.now() + timedelta(days=2))

    assert run.transactions == 0
    assert standard(member).balance == -100
    assert Account.objects.get(pk=standard(member).pk).version == 3
    ledger_ok()
