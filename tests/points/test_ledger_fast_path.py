"""The one-statement path for credits (`_post_credits_in_one_statement`) against the general
path of `ledger_post`: the same rows, the same refusals, and a fallback for debts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from points.models import Account, LedgerEntry, LedgerTransaction, LotAllocation, PointLot
from points.services import ledger
from points.services.accounts import system_account
from points.services.ledger import Overdraft, Posting, ledger_post
from tests.points.helpers import earn, spend, standard

pytestmark = pytest.mark.django_db


def general_path_only(monkeypatch):
    monkeypatch.setattr(ledger, "_post_credits_in_one_statement", lambda *a, **k: ledger._IN_DEBT)


def purchase_credit(member, merchant, issuer, key, points=120, green=30, **kwargs):
    accounts = {a.kind: a for a in Account.objects.filter(member=member)}
    green_issuer = system_account(Account.Kind.GREEN_ISSUANCE, merchant)
    return ledger_post(
        kind=LedgerTransaction.Kind.EARN,
        idempotency_key=key,
        postings=[
            Posting(accounts[Account.Kind.STANDARD], points),
            Posting(issuer, -points),
            Posting(accounts[Account.Kind.GREEN], green),
            Posting(green_issuer, -green),
        ],
        merchant=merchant,
        member=member,
        reference=key,
        reason="purchase",
        breakdown={"points": points},
        **kwargs,
    )


def written(txn, member):
    """What a posting wrote, without ids that differ between two members."""
    kinds = {a.pk: a.kind for a in Account.objects.filter(member=member)}
    entries = [
        (kinds.get(e.account_id, "system"), e.points)
        for e in LedgerEntry.objects.filter(transaction=txn).order_by("id")
    ]
    lots = [
        (kinds[lot.account_id], lot.points, lot.remaining, lot.expires_at, lot.created_at)
        for lot in PointLot.objects.filter(transaction=txn).order_by("id")
    ]
    accounts = sorted((a.kind, a.balance, a.version) for a in Account.objects.filter(member=member))
    stored = LedgerTransaction.objects.get(pk=txn.pk)
    header = (stored.kind, stored.reason, stored.breakdown, stored.merchant_id)
    return header, entries, lots, accounts


def test_a_purchase_credit_writes_exactly_what_the_general_path_writes(
    make_member, merchant, issuer, monkeypatch, settings, ledger_ok
):
    settings.POINTS_EXPIRY_MONTHS = 24
    at = timezone.now() - timedelta(days=3)
    fast_member, general_member = make_member(), make_member()
    fast = purchase_credit(fast_member, merchant, issuer, "fast", created_at=at)
    general_path_only(monkeypatch)
    general = purchase_credit(general_member, merchant, issuer, "general", created_at=at)

    assert written(fast, fast_member) == written(general, general_member)
    assert standard(fast_member).balance == 120
    ledger_ok()


def test_the_posted_accounts_show_their_new_balance_and_version(make_member, issuer):
    member = make_member()
    earn(member, issuer, 50)
    account = standard(member)

    earn_again = ledger_post(
        kind=LedgerTransaction.Kind.EARN,
        idempotency_key="again",
        postings=[Posting(account, 25), Posting(issuer, -25)],
        member=member,
    )

    assert (account.balance, account.version) == (75, 2)
    assert earn_again.replayed is False


def test_a_repeated_key_is_a_replay_that_writes_nothing(make_member, merchant, issuer):
    member = make_member()
    first = purchase_credit(member, merchant, issuer, "same")
    counts = (LedgerEntry.objects.count(), PointLot.objects.count(), standard(member).version)

    again = purchase_credit(member, merchant, issuer, "same")

    assert (again.pk, again.replayed) == (first.pk, True)
    assert (LedgerEntry.objects.count(), PointLot.objects.count()) == counts[:2]
    assert standard(member).version == counts[2]


def test_a_credit_to_an_account_in_debt_repays_it_through_the_general_path(
    make_member, merchant, issuer, ledger_ok
):
    member = make_member()
    earn(member, issuer, 100)
    spend(member, merchant, 160, overdraft=Overdraft.ALLOW)  # a debt of 60
    assert standard(member).balance == -60

    txn = earn(member, issuer, 100)

    lot = PointLot.objects.get(transaction=txn)
    assert (lot.points, lot.remaining) == (100, 40)
    assert LotAllocation.objects.filter(transaction=txn, lot=lot).get().points == 60
    assert standard(member).balance == 40
    ledger_ok()


def test_a_purchase_credit_is_one_statement(
    make_member, merchant, issuer, django_assert_num_queries
):
    member = make_member()
    purchase_credit(member, merchant, issuer, "warm-up")  # green issuer created and cached
    accounts = {a.kind: a for a in Account.objects.filter(member=member)}
    green_issuer = system_account(Account.Kind.GREEN_ISSUANCE, merchant)

    with django_assert_num_queries(1):
        ledger_post(
            kind=LedgerTransaction.Kind.EARN,
            idempotency_key="one",
            postings=[
                Posting(accounts[Account.Kind.STANDARD], 10),
                Posting(issuer, -10),
                Posting(accounts[Account.Kind.GREEN], 5),
                Posting(green_issuer, -5),
            ],
            member=member,
        )
