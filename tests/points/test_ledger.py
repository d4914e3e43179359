"""The ledger service: balanced postings, lots, reversals, idempotency, refusals."""

from datetime import timedelta

import pytest
from django.utils import timezone

from points.models import LedgerEntry, LedgerTransaction, LotAllocation, PointLot
from points.services.accounts import expiry_account
from points.services.expiry import account_expire
from points.services.ledger import (
    InsufficientPoints,
    InvalidPosting,
    Overdraft,
    Posting,
    UnbalancedTransaction,
    add_months,
    ledger_post,
)
from tests.points.helpers import earn, reverse, spend, standard

pytestmark = pytest.mark.django_db


def test_earn_credits_the_member_and_debits_the_issuer(make_member, issuer, ledger_ok):
    member = make_member()

    txn = earn(member, issuer, 128)

    assert standard(member).balance == 128
    assert sorted(txn.entries.values_list("points", flat=True)) == [-128, 128]
    lot = PointLot.objects.get(transaction=txn)
    assert (lot.points, lot.remaining, lot.expires_at) == (128, 128, None)
    assert standard(member).version == 1
    ledger_ok()


def test_unbalanced_posting_is_refused_and_writes_nothing(make_member, issuer):
    account = standard(make_member())

    with pytest.raises(UnbalancedTransaction):
        ledger_post(
            kind="earn",
            idempotency_key="unbalanced",
            postings=[Posting(account, 100), Posting(issuer, -99)],
        )

    assert not LedgerTransaction.objects.filter(idempotency_key="unbalanced").exists()
    assert standard(account.member).balance == 0


@pytest.mark.parametrize("points", [0, 1.5, True, "10"])
def test_non_integer_or_zero_points_are_refused(make_member, issuer, points):
    account = standard(make_member())
    with pytest.raises(InvalidPosting):
        ledger_post(
            kind="earn",
            idempotency_key="bad",
            postings=[Posting(account, points), Posting(issuer, -1)],
        )
    assert LedgerEntry.objects.count() == 0


def test_unknown_kind_and_missing_key_are_refused(make_member, issuer):
    account = standard(make_member())
    with pytest.raises(InvalidPosting):
        ledger_post(
            kind="gift", idempotency_key="x", postings=[Posting(account, 1), Posting(issuer, -1)]
        )
    with pytest.raises(InvalidPosting):
        ledger_post(
            kind="earn", idempotency_key="", postings=[Posting(account, 1), Posting(issuer, -1)]
        )


def test_same_idempotency_key_twice_makes_one_transaction(make_member, issuer, ledger_ok):
    member = make_member()

    first = earn(member, issuer, 50, idempotency_key="receipt-1")
    second = earn(member, issuer, 50, idempotency_key="receipt-1")

    assert second.pk == first.pk
    assert (first.replayed, second.replayed) == (False, True)
    assert LedgerTransaction.objects.filter(idempotency_key="receipt-1").count() == 1
    assert standard(member).balance == 50
    ledger_ok()


def test_replayed_spend_returns_the_original_even_when_the_account_is_now_empty(
    make_member, issuer, merchant
):
    member = make_member()
    earn(member, issuer, 100)
    first = spend(member, merchant, 100, idempotency_key="redeem-1")

    again = spend(member, merchant, 100, idempotency_key="redeem-1")

    assert again.pk == first.pk and again.replayed
    assert standard(member).balance == 0


def test_spending_more_than_spendable_raises_and_writes_nothing(make_member, issuer, merchant):
    member = make_member()
    earn(member, issuer, 99)
    before = LedgerTransaction.objects.count()

    with pytest.raises(InsufficientPoints) as refused:
        spend(member, merchant, 100)

    assert (refused.value.requested, refused.value.available) == (100, 99)
    assert LedgerTransaction.objects.count() == before
    assert standard(member).balance == 99
    assert PointLot.objects.get(account=standard(member)).remaining == 99


def test_debits_consume_soonest_expiring_lots_first_and_never_expiring_last(
    make_member, issuer, merchant, ledger_ok
):
    member = make_member()
    now = timezone.now()
    forever = earn(member, issuer, 100, expires_at=None)
    late = earn(member, issuer, 100, expires_at=now + timedelta(days=300))
    soon = earn(member, issuer, 100, expires_at=now + timedelta(days=30))

    spend(member, merchant, 150)

    remaining = {lot.transaction_id: lot.remaining for lot in PointLot.objects.all()}
    assert remaining == {soon.pk: 0, late.pk: 50, forever.pk: 100}
    ledger_ok()


def test_expired_lots_are_not_spendable(make_member, issuer, merchant):
    member = make_member()
    earn(member, issuer, 100, expires_at=timezone.now() - timedelta(days=1))

    with pytest.raises(InsufficientPoints):
        spend(member, merchant, 1)


def test_cancelling_a_redemption_restores_the_exact_lots_it_consumed(
    make_member, issuer, merchant, ledger_ok
):
    member = make_member()
    now = timezone.now()
    a = earn(member, issuer, 60, expires_at=now + timedelta(days=10))
    b = earn(member, issuer, 60, expires_at=now + timedelta(days=20))
    c = earn(member, issuer, 60, expires_at=None)
    redeem = spend(member, merchant, 100)  # 60 from a, 40 from b
    earn(member, issuer, 10, expires_at=now + timedelta(days=1))

    cancel = reverse(redeem)

    remaining = {
        lot.transaction_id: lot.remaining
        for lot in PointLot.objects.filter(transaction__in=[a, b, c])
    }
    assert remaining == {a.pk: 60, b.pk: 60, c.pk: 60}
    assert not PointLot.objects.filter(transaction=cancel).exists()  # no new lot: the old ones
    assert sorted(
        LotAllocation.objects.filter(transaction=cancel).values_list("points", flat=True)
    ) == [-60, -40]
    assert standard(member).balance == 190
    ledger_ok()


def test_partial_reversals_never_give_back_more_than_was_consumed(
    make_member, issuer, merchant, ledger_ok
):
    member = make_member()
    earn(member, issuer, 100)
    redeem = spend(member, merchant, 80)

    reverse(redeem, points=50)
    reverse(redeem, points=30)

    assert PointLot.objects.get().remaining == 100
    assert standard(member).balance == 100
    ledger_ok()


def test_refunding_an_earn_takes_the_points_from_its_own_lot(make_member, issuer, ledger_ok):
    member = make_member()
    other = earn(member, issuer, 100, expires_at=timezone.now() + timedelta(days=5))
    purchase = earn(member, issuer, 50)

    reverse(purchase, points=20)

    assert PointLot.objects.get(transaction=purchase).remaining == 30
    assert PointLot.objects.get(transaction=other).remaining == 100
    ledger_ok()


def test_refund_of_spent_points_with_overdraft_allowed_leaves_a_debt_repaid_by_later_earnings(
    make_member, issuer, merchant, ledger_ok
):
    member = make_member()
    purchase = earn(member, issuer, 100)
    spend(member, merchant, 70)

    refund = reverse(purchase, overdraft=Overdraft.ALLOW)

    assert standard(member).balance == -70
    assert refund.breakdown["overdraft"] == {standard(member).code: 70}
    with pytest.raises(InsufficientPoints):
        spend(member, merchant, 1)
    ledger_ok()

    later = earn(member, issuer, 100)

    assert standard(member).balance == 30
    assert PointLot.objects.get(transaction=later).remaining == 30
    ledger_ok()


def test_refund_of_spent_points_is_refused_by_default(make_member, issuer, merchant):
    member = make_member()
    purchase = earn(member, issuer, 100)
    spend(member, merchant, 70)

    with pytest.raises(InsufficientPoints):
        reverse(purchase)
    assert standard(member).balance == 30


def test_expiry_sweeps_only_lots_past_due_and_twice_is_once(make_member, issuer, ledger_ok):
    member = make_member()
    earn(member, issuer, 40, expires_at=timezone.now() - timedelta(days=1))
    earn(member, issuer, 60, expires_at=timezone.now() + timedelta(days=1))

    first = account_expire(account=standard(member))
    second = account_expire(account=standard(member))

    assert first.entries.get(account=expiry_account()).points == 40
    assert second is None
    assert standard(member).balance == 60
    ledger_ok()


def test_lots_expire_after_the_configured_months(settings, make_member, issuer):
    settings.POINTS_EXPIRY_MONTHS = 12
    member = make_member()
    credited = timezone.now()

    txn = earn(member, issuer, 10, created_at=credited)

    assert PointLot.objects.get(transaction=txn).expires_at == add_months(credited, 12)


def test_green_points_never_expire(settings, make_member, issuer):
    from points.models import Account

    settings.POINTS_EXPIRY_MONTHS = 12
    member = make_member()
    green = Account.objects.get(member=member, kind=Account.Kind.GREEN)

    txn = ledger_post(
        kind="green_earn", idempotency_key="g1", postings=[Posting(green, 3), Posting(issuer, -3)]
    )

    assert PointLot.objects.get(transaction=txn).expires_at is None


def test_add_months_clamps_to_the_end_of_shorter_months():
    from datetime import datetime

    assert add_months(datetime(2026, 1, 31), 1) == datetime(2026, 2, 28)
    assert add_months(datetime(2024, 1, 31), 1) == datetime(2024, 2, 29)
    assert add_months(datetime(2026, 11, 15), 14) == datetime(2028, 1, 15)


def test_one_posting_costs_a_bounded_number_of_queries(
    make_member, issuer, merchant, django_assert_max_num_queries
):
    member = make_member()
    account = standard(member)
    earn(member, issuer, 500)

    with django_assert_max_num_queries(8):
        ledger_post(
            kind="earn",
            idempotency_key="q-earn",
            postings=[Posting(account, 10), Posting(issuer, -10)],
        )
    from points.services.accounts import redemption_account

    shop = redemption_account(merchant)
    with django_assert_max_num_queries(10):
        ledger_post(
            kind="redeem",
            idempotency_key="q-spend",
            postings=[Posting(account, -100), Posting(shop, 100)],
        )
