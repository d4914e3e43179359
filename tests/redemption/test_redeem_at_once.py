"""The common redemption in two statements (`_redeem_at_once`): its query count, and each
refusal it decides itself, writing nothing."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from merchants.models import Merchant
from points.models import LedgerTransaction, LotAllocation, PointLot
from points.services.accounts import redemption_account
from redemption.models import PriceSchedule, Redemption, Reward, Voucher
from redemption.services import redemptions
from redemption.services.errors import (
    InsufficientPoints,
    LimitReached,
    NegativeBalance,
    OutOfStock,
    PriceBelowFloor,
    RewardNotAvailable,
)
from redemption.services.redemptions import reward_redeem
from tests.points.helpers import earn, standard

pytestmark = pytest.mark.django_db


def redeem(member, reward, quantity=1, key="k1", **kwargs):
    return reward_redeem(
        member=member, reward=reward, quantity=quantity, idempotency_key=key, **kwargs
    )


@pytest.fixture
def counted(monkeypatch):
    """The statements of each call, and whether the two-statement path wrote it."""
    calls = []
    real = redemptions._redeem_at_once

    def spy(**kwargs):
        result = real(**kwargs)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(redemptions, "_redeem_at_once", spy)
    return calls


def statements(queries):
    """The statements, without the savepoint's own (BEGIN, COMMIT or ROLLBACK in production,
    where the service's transaction is the outer one)."""
    return [
        q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))
    ]


def written_nothing(member, reward, *, balance, stock):
    reward.refresh_from_db()
    assert standard(member).balance == balance
    assert reward.stock == stock
    assert not Redemption.objects.filter(member=member).exists()
    assert not LedgerTransaction.objects.filter(kind="redeem", member=member).exists()
    assert not LotAllocation.objects.filter(transaction__member=member).exists()


@pytest.mark.parametrize("stock", [None, 10])
def test_a_common_redemption_is_at_most_four_statements(
    funded_member, make_reward, merchant, counted, stock, ledger_ok
):
    member = funded_member(1000)
    reward = make_reward(points_price=300, stock=stock)
    redemption_account(merchant)  # the merchant's first redemption creates it: not counted
    redeem(member, make_reward(points_price=100), key="warm-up")

    with CaptureQueriesContext(connection) as queries:
        redemption = redeem(member, reward)

    # SAVEPOINT (BEGIN in production), locks and reads, the writes, RELEASE (COMMIT)
    assert len(queries) <= 4, [q["sql"][:120] for q in queries]
    assert len(statements(queries)) == 2
    assert counted[-1] is True
    assert redemption.pk and redemption.ledger_transaction.reference == (
        f"redemption:{redemption.pk}"
    )
    assert standard(member).balance == 600
    ledger_ok()


def test_a_voucher_redemption_writes_its_vouchers_in_the_same_statements(
    funded_member, make_reward, merchant, counted, ledger_ok
):
    member = funded_member(1000)
    redemption_account(merchant)
    reward = make_reward(
        kind=Reward.Kind.VOUCHER, points_price=200, face_value_fen=1000, validity_days=7
    )
    now = timezone.now()

    with CaptureQueriesContext(connection) as queries:
        redemption = redeem(member, reward, quantity=3, now=now)

    assert len(queries) <= 4
    assert counted == [True]
    vouchers = list(Voucher.objects.filter(redemption=redemption).order_by("id"))
    assert len({v.code for v in vouchers}) == 3
    assert all(v.valid_until == now + timedelta(days=7) for v in vouchers)
    assert redemption.pickup_code is None
    ledger_ok()


def test_lots_are_taken_soonest_expiring_first_and_expired_ones_are_left(
    make_member, issuer, make_reward, merchant, counted, ledger_ok
):
    member = make_member()
    now = timezone.now()
    expired = earn(member, issuer, 1000, expires_at=now - timedelta(days=1))
    later = earn(member, issuer, 300, expires_at=now + timedelta(days=200))
    sooner = earn(member, issuer, 300, expires_at=now + timedelta(days=20))
    forever = earn(member, issuer, 300, expires_at=None)
    redemption_account(merchant)

    redemption = redeem(member, make_reward(points_price=700, face_value_fen=3500))

    assert counted == [True]
    remaining = dict(PointLot.objects.values_list("transaction_id", "remaining"))
    assert remaining == {expired.pk: 1000, sooner.pk: 0, later.pk: 0, forever.pk: 200}
    taken = list(
        LotAllocation.objects.filter(transaction=redemption.ledger_transaction)
        .order_by("id")
        .values_list("lot__transaction_id", "points")
    )
    assert taken == [(sooner.pk, 300), (later.pk, 300), (forever.pk, 100)]
    ledger_ok()


def test_the_exchange_day_price_is_paid(funded_member, make_reward, merchant, counted):
    member = funded_member(1000)
    redemption_account(merchant)
    reward = make_reward(points_price=500)
    PriceSchedule.objects.create(
        merchant=merchant,
        name="兑换日",
        percent_off=20,
        kind=PriceSchedule.Kind.EXCHANGE_DAY,
        day_of_month=timezone.localdate().day,
    )

    redemption = redeem(member, reward, quantity=2)

    assert counted == [True]
    assert (redemption.unit_points, redemption.points_total, redemption.percent_off) == (
        400,
        800,
        20,
    )
    assert redemption.ledger_transaction.breakdown["unit_points"] == 400


# --- Refusals: decided by the two statements, nothing written -------------------------------


def general_refusal(monkeypatch, error, member, reward, **kwargs):
    """The general path's refusal of the same redemption (for its message)."""
    with monkeypatch.context() as general:
        general.setattr(redemptions, "_redeem_at_once", lambda **kwargs: None)
        with pytest.raises(error) as refused:
            redeem(member, reward, **kwargs)
    return str(refused.value.message)


def test_out_of_stock(funded_member, make_reward, merchant, counted, monkeypatch):
    member = funded_member(5000)
    redemption_account(merchant)
    reward = make_reward(stock=2)

    with CaptureQueriesContext(connection) as queries, pytest.raises(OutOfStock) as refused:
        redeem(member, reward, quantity=3)

    assert "2" in str(refused.value.message)
    assert str(refused.value.message) == general_refusal(
        monkeypatch, OutOfStock, member, reward, quantity=3
    )
    assert len(statements(queries)) == 2
    assert counted == []  # raised inside: the general path never ran
    written_nothing(member, reward, balance=5000, stock=2)


def test_limit_reached(funded_member, make_reward, merchant, counted, monkeypatch):
    member = funded_member(5000)
    redemption_account(merchant)
    reward = make_reward(per_member_limit=2)
    redeem(member, reward, quantity=2, key="first")
    before = standard(member).balance

    with pytest.raises(LimitReached) as refused:
        redeem(member, reward, key="second")

    assert str(refused.value.message) == general_refusal(
        monkeypatch, LimitReached, member, reward, key="second"
    )
    assert counted == [True]
    assert standard(member).balance == before
    assert Redemption.objects.filter(member=member).count() == 1


def test_insufficient_points_leave_expired_lots_uncounted(
    make_member, issuer, make_reward, merchant, counted, monkeypatch
):
    member = make_member()
    earn(member, issuer, 1000, expires_at=timezone.now() - timedelta(days=1))
    earn(member, issuer, 499)
    redemption_account(merchant)
    reward = make_reward(points_price=500, stock=5)

    with pytest.raises(InsufficientPoints) as refused:
        redeem(member, reward)

    assert "500" in str(refused.value.message) and "499" in str(refused.value.message)
    assert str(refused.value.message) == general_refusal(
        monkeypatch, InsufficientPoints, member, reward
    )
    assert counted == []
    written_nothing(member, reward, balance=1499, stock=5)


def test_unavailable_reward(funded_member, make_reward, merchant, counted):
    member = funded_member(1000)
    redemption_account(merchant)
    now = timezone.now()
    for reward in (
        make_reward(stock=5, active=False),
        make_reward(stock=5, active_until=now - timedelta(minutes=1)),
        make_reward(stock=5, active_from=now + timedelta(days=1)),
    ):
        with pytest.raises(RewardNotAvailable):
            redeem(member, reward)
        written_nothing(member, reward, balance=1000, stock=5)
    Merchant.objects.filter(pk=merchant.pk).update(active=False)
    reward = make_reward(stock=5)
    with pytest.raises(RewardNotAvailable):
        redeem(member, reward)
    written_nothing(member, reward, balance=1000, stock=5)
    assert counted == []


def test_price_below_floor(settings, funded_member, make_reward, merchant, counted):
    member = funded_member(1000)
    redemption_account(merchant)
    reward = make_reward(points_price=500, face_value_fen=2500, stock=5)
    settings.POINT_VALUE_FLOOR_FEN = 6

    with pytest.raises(PriceBelowFloor):
        redeem(member, reward)

    assert counted == []
    written_nothing(member, reward, balance=1000, stock=5)


def test_a_replay_is_answered_by_the_general_path(funded_member, make_reward, merchant, counted):
    member = funded_member(1000)
    redemption_account(merchant)
    reward = make_reward(points_price=300, stock=3)
    first = redeem(member, reward, key="twice")

    again = redeem(member, reward, key="twice")

    assert counted == [True, False]
    assert again.pk == first.pk and again.replayed
    reward.refresh_from_db()
    assert reward.stock == 2


def test_a_stock_limited_since_the_reward_was_read_restarts_locked_for_update(
    funded_member, make_reward, merchant, counted
):
    member = funded_member(1000)
    redemption_account(merchant)
    reward = make_reward(points_price=500, stock=None)
    Reward.objects.filter(pk=reward.pk).update(stock=3)

    with CaptureQueriesContext(connection) as queries:
        redeem(member, reward)

    assert counted == [True]  # the share-locked attempt was rolled back, not counted
    assert any('FOR UPDATE OF "redemption_reward"' in q["sql"] for q in queries)
    assert Reward.objects.get(pk=reward.pk).stock == 2
    assert Redemption.objects.get(member=member).stock_taken is True


def test_a_free_redemption_is_left_to_the_general_path(
    funded_member, make_reward, merchant, counted, ledger_ok
):
    member = funded_member(0)
    redemption_account(merchant)
    reward = make_reward(points_price=500, stock=1)
    today = timezone.localdate()
    PriceSchedule.objects.create(
        merchant=merchant,
        name="Free day",
        percent_off=100,
        starts_on=today - timedelta(days=1),
        ends_on=today + timedelta(days=1),
    )

    redemption = redeem(member, reward)

    assert counted == [False]
    assert (redemption.points_total, redemption.ledger_transaction) == (0, None)
    ledger_ok()


def test_a_member_in_debt_is_refused_by_the_two_statements(
    make_member, issuer, merchant, make_reward, counted, monkeypatch
):
    from points.services.ledger import Overdraft
    from tests.points.helpers import reverse, spend

    member = make_member()
    purchase = earn(member, issuer, 500)
    spend(member, merchant, 300)
    reverse(purchase, overdraft=Overdraft.ALLOW)
    reward = make_reward(points_price=100, stock=5)
    redemption_account(merchant)
    transactions = LedgerTransaction.objects.count()

    with pytest.raises(NegativeBalance) as refused:
        redeem(member, reward)

    assert counted == []
    assert str(refused.value.message) == general_refusal(
        monkeypatch, NegativeBalance, member, reward
    )
    assert LedgerTransaction.objects.count() == transactions
    assert standard(member).balance == -300
    assert not Redemption.objects.exists()
    assert Reward.objects.get(pk=reward.pk).stock == 5
