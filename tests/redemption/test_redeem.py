"""reward_redeem: the price paid, the ledger, stock, vouchers, idempotency and refusals."""

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from merchants.models import Category, Merchant
from points.models import Account, LedgerEntry, LedgerTransaction, PointLot
from points.services.accounts import redemption_account
from points.services.ledger import Overdraft
from redemption.models import PriceSchedule, Redemption, Reward, Voucher
from redemption.services.errors import (
    InsufficientPoints,
    InvalidQuantity,
    InvalidRequest,
    LimitReached,
    NegativeBalance,
    OutOfStock,
    PriceBelowFloor,
    RewardNotAvailable,
)
from redemption.services.redemptions import reward_redeem
from tests.points.helpers import earn, reverse, spend, standard

pytestmark = pytest.mark.django_db


def redeem(member, reward, quantity=1, key="k1", **kwargs):
    return reward_redeem(
        member=member, reward=reward, quantity=quantity, idempotency_key=key, **kwargs
    )


def nothing_changed(member, reward, *, balance, stock, redemptions=0):
    reward.refresh_from_db()
    assert standard(member).balance == balance
    assert reward.stock == stock
    assert Redemption.objects.count() == redemptions
    assert not LedgerTransaction.objects.filter(reference__startswith="redemption:").exists()


def test_redeeming_debits_the_member_and_credits_the_merchants_redemption_account(
    funded_member, make_reward, merchant, ledger_ok
):
    # Given a member with 1,000 points and a notebook set of 500 points, 10 in stock
    member = funded_member(1000)
    reward = make_reward(points_price=500, face_value_fen=2500, stock=10)

    # When they redeem two
    redemption = redeem(member, reward, quantity=2)

    # Then 1,000 points move to the merchant's redemption account and the stock drops by two
    assert (redemption.status, redemption.points_total, redemption.quantity) == (
        Redemption.Status.CONFIRMED,
        1000,
        2,
    )
    assert standard(member).balance == 0
    entries = dict(
        LedgerEntry.objects.filter(transaction=redemption.ledger_transaction).values_list(
            "account__code", "points"
        )
    )
    assert entries == {standard(member).code: -1000, redemption_account(merchant).code: 1000}
    assert redemption.ledger_transaction.kind == "redeem"
    assert redemption.ledger_transaction.reference == f"redemption:{redemption.pk}"
    reward.refresh_from_db()
    assert reward.stock == 8
    assert redemption.replayed is False
    ledger_ok()


def test_points_plus_cash_records_the_cash_due_at_the_merchant(funded_member, make_reward):
    member = funded_member(5000)
    service = make_reward(
        kind=Reward.Kind.SERVICE, points_price=2000, cash_price_fen=10000, face_value_fen=30000
    )

    redemption = redeem(member, service)

    assert (redemption.points_total, redemption.cash_due_fen) == (2000, 10000)
    assert standard(member).balance == 3000


def test_the_soonest_expiring_lots_are_spent_first(make_member, issuer, make_reward, ledger_ok):
    member = make_member()
    now = timezone.now()
    later = earn(member, issuer, 300, expires_at=now + timedelta(days=200))
    sooner = earn(member, issuer, 300, expires_at=now + timedelta(days=20))
    forever = earn(member, issuer, 300, expires_at=None)

    redeem(member, make_reward(points_price=500))

    remaining = dict(PointLot.objects.values_list("transaction_id", "remaining"))
    assert remaining == {sooner.pk: 0, later.pk: 100, forever.pk: 300}
    ledger_ok()


def test_the_price_paid_and_its_schedule_are_snapshotted(funded_member, make_reward, merchant):
    # Given a 20% winter-break discount on the notebook set, running today
    member = funded_member(1000)
    reward = make_reward(points_price=500)
    today = timezone.localdate()
    winter = PriceSchedule.objects.create(
        merchant=merchant,
        name="寒假特惠",
        percent_off=20,
        starts_on=today - timedelta(days=1),
        ends_on=today + timedelta(days=1),
    )
    winter.rewards.add(reward)

    # When the member redeems it
    redemption = redeem(member, reward)

    # Then they pay 400, and the redemption remembers why, even after the schedule is gone
    assert (redemption.unit_points, redemption.base_points_price, redemption.percent_off) == (
        400,
        500,
        20,
    )
    assert standard(member).balance == 600
    winter.delete()
    redemption.refresh_from_db()
    assert (redemption.schedule, redemption.schedule_name, redemption.points_total) == (
        None,
        "寒假特惠",
        400,
    )


def test_a_category_schedule_discounts_rewards_of_that_category(
    funded_member, make_reward, merchant
):
    member = funded_member(1000)
    pens = Category.objects.create(merchant=merchant, name="笔", slug="pens")
    pen = make_reward(points_price=1000, face_value_fen=5000, category=pens)
    schedule = PriceSchedule.objects.create(
        merchant=merchant,
        name="兑换日",
        percent_off=10,
        kind=PriceSchedule.Kind.EXCHANGE_DAY,
        day_of_month=timezone.localdate().day,
    )
    schedule.categories.add(pens)

    assert redeem(member, pen).points_total == 900


def test_the_same_idempotency_key_twice_makes_one_redemption(funded_member, make_reward, ledger_ok):
    member = funded_member(1000)
    reward = make_reward(points_price=500, stock=5)

    first = redeem(member, reward, key="double-submit")
    second = redeem(member, reward, key="double-submit")

    assert second.pk == first.pk and second.replayed
    assert Redemption.objects.count() == 1
    assert standard(member).balance == 500
    reward.refresh_from_db()
    assert reward.stock == 4
    ledger_ok()


def test_the_same_key_from_two_members_makes_two_redemptions(funded_member, make_reward):
    reward = make_reward(points_price=500)

    a = redeem(funded_member(500), reward, key="same")
    b = redeem(funded_member(500), reward, key="same")

    assert a.pk != b.pk


def test_a_voucher_gets_an_unguessable_code_valid_for_exactly_its_days(funded_member, make_reward):
    member = funded_member(1000)
    voucher_reward = make_reward(
        kind=Reward.Kind.VOUCHER, points_price=200, face_value_fen=1000, validity_days=30
    )
    now = timezone.now()

    redemption = redeem(member, voucher_reward, quantity=3, now=now)

    vouchers = list(Voucher.objects.filter(redemption=redemption))
    assert len(vouchers) == 3
    assert len({v.code for v in vouchers}) == 3
    for voucher in vouchers:
        assert re.fullmatch(r"([2-9A-HJKMNP-Z]{4}-){3}[2-9A-HJKMNP-Z]{4}", voucher.code)
        assert voucher.valid_until - voucher.issued_at == timedelta(days=30)
        assert voucher.status_at(now + timedelta(days=30) - timedelta(seconds=1)) == "valid"
        assert voucher.status_at(now + timedelta(days=30)) == "expired"


@pytest.mark.parametrize("quantity", [0, -1, 10**6, "1", 1.0, None, True])
def test_a_bad_quantity_is_refused_and_changes_nothing(funded_member, make_reward, quantity):
    member = funded_member(1000)
    reward = make_reward(stock=5)

    with pytest.raises(InvalidQuantity) as refused:
        redeem(member, reward, quantity=quantity)

    assert "99" in str(refused.value.message)
    nothing_changed(member, reward, balance=1000, stock=5)


@pytest.mark.parametrize("key", ["", "   ", None, "x" * 101])
def test_a_missing_or_overlong_idempotency_key_is_refused(funded_member, make_reward, key):
    member = funded_member(1000)
    reward = make_reward(stock=5)

    with pytest.raises(InvalidRequest):
        redeem(member, reward, key=key)

    nothing_changed(member, reward, balance=1000, stock=5)


def test_an_inactive_reward_is_refused(funded_member, make_reward):
    member = funded_member(1000)
    reward = make_reward(stock=5, active=False)

    with pytest.raises(RewardNotAvailable):
        redeem(member, reward)

    nothing_changed(member, reward, balance=1000, stock=5)


def test_an_expired_or_not_yet_started_reward_is_refused(funded_member, make_reward):
    member = funded_member(1000)
    now = timezone.now()
    expired = make_reward(stock=5, active_until=now - timedelta(minutes=1))
    future = make_reward(stock=5, active_from=now + timedelta(days=1))

    for reward in (expired, future):
        with pytest.raises(RewardNotAvailable):
            redeem(member, reward)
        nothing_changed(member, reward, balance=1000, stock=5)


def test_another_merchants_hidden_reward_is_refused(funded_member, make_reward):
    member = funded_member(1000)
    other = Merchant.objects.create(name="绿叶 Test", slug="greenleaf-test")
    hidden = make_reward(merchant=other, stock=5, active=False)

    with pytest.raises(RewardNotAvailable):
        redeem(member, hidden)

    nothing_changed(member, hidden, balance=1000, stock=5)


def test_a_reward_of_an_inactive_merchant_is_refused(funded_member, make_reward, merchant):
    member = funded_member(1000)
    reward = make_reward(stock=5)
    Merchant.objects.filter(pk=merchant.pk).update(active=False)

    with pytest.raises(RewardNotAvailable):
        redeem(member, reward)


def test_a_deleted_reward_is_refused(funded_member):
    member = funded_member(1000)

    with pytest.raises(RewardNotAvailable):
        redeem(member, Reward(pk=999999))


def test_insufficient_points_are_refused_with_the_numbers(funded_member, make_reward):
    member = funded_member(499)
    reward = make_reward(points_price=500, stock=5)

    with pytest.raises(InsufficientPoints) as refused:
        redeem(member, reward)

    assert "500" in str(refused.value.message) and "499" in str(refused.value.message)
    nothing_changed(member, reward, balance=499, stock=5)


def test_expired_points_do_not_count(make_member, issuer, make_reward):
    member = make_member()
    earn(member, issuer, 1000, expires_at=timezone.now() - timedelta(days=1))

    with pytest.raises(InsufficientPoints):
        redeem(member, make_reward(points_price=500))


def test_a_negative_balance_blocks_redemption(
    make_member, issuer, merchant, make_reward, ledger_ok
):
    # Given a member who spent points and then had the purchase refunded: a debt of 300
    member = make_member()
    purchase = earn(member, issuer, 500)
    spend(member, merchant, 300)
    reverse(purchase, overdraft=Overdraft.ALLOW)
    earn(member, issuer, 100)  # repays part of the debt; balance still -200
    reward = make_reward(points_price=500, stock=5)
    assert standard(member).balance == -200

    # When they try to redeem, it is refused and nothing changes
    with pytest.raises(NegativeBalance):
        redeem(member, reward)
    nothing_changed(member, reward, balance=-200, stock=5)
    ledger_ok()


def test_out_of_stock_is_refused(funded_member, make_reward):
    member = funded_member(5000)
    reward = make_reward(stock=2)

    with pytest.raises(OutOfStock) as refused:
        redeem(member, reward, quantity=3)
    assert "2" in str(refused.value.message)
    redeem(member, reward, quantity=2, key="k2")
    with pytest.raises(OutOfStock):
        redeem(member, reward, key="k3")

    reward.refresh_from_db()
    assert reward.stock == 0
    assert standard(member).balance == 4000


def test_the_per_member_limit_counts_held_units_not_cancelled_ones(funded_member, make_reward):
    from redemption.services.redemptions import redemption_cancel_by_member

    member = funded_member(5000)
    reward = make_reward(per_member_limit=2)
    first = redeem(member, reward, quantity=2, key="a")

    with pytest.raises(LimitReached):
        redeem(member, reward, key="b")
    redemption_cancel_by_member(redemption=first, member=member)
    redeem(member, reward, quantity=2, key="c")

    assert Redemption.objects.exclude(status="cancelled").count() == 1


def test_a_price_below_the_floor_saved_earlier_is_refused_by_the_service(
    settings, funded_member, make_reward
):
    member = funded_member(1000)
    reward = make_reward(points_price=500, face_value_fen=2500, stock=5)
    settings.POINT_VALUE_FLOOR_FEN = 6  # the floor was raised after the price was published

    with pytest.raises(PriceBelowFloor):
        redeem(member, reward)

    nothing_changed(member, reward, balance=1000, stock=5)


def test_a_full_discount_redeems_for_zero_points_without_a_ledger_posting(
    funded_member, make_reward, merchant, ledger_ok
):
    member = funded_member(0)
    reward = make_reward(points_price=500, stock=1)
    PriceSchedule.objects.create(
        merchant=merchant,
        name="Free day",
        percent_off=100,
        starts_on=date(2000, 1, 1),
        ends_on=date(2100, 1, 1),
    )

    redemption = redeem(member, reward)

    assert (redemption.points_total, redemption.ledger_transaction) == (0, None)
    assert Account.objects.get(pk=standard(member).pk).balance == 0
    ledger_ok()


def test_a_stock_limited_since_the_reward_was_read_is_still_taken(funded_member, make_reward):
    """The caller's copy says unlimited (a share lock would do); the row now has a stock:
    the redemption starts again with the reward locked for update, and takes its unit."""
    member = funded_member(points=1000)
    reward = make_reward(points_price=500, stock=None)
    Reward.objects.filter(pk=reward.pk).update(stock=3)
    reward_redeem(member=member, reward=reward, quantity=1, idempotency_key="k")
    assert Reward.objects.get(pk=reward.pk).stock == 2
    assert Redemption.objects.filter(member=member).count() == 1
    assert Account.objects.get(member=member, kind="standard").balance == 500


def test_a_stock_sold_out_since_the_reward_was_read_is_refused(funded_member, make_reward):
    member = funded_member(points=1000)
    reward = make_reward(points_price=500, stock=None)
    Reward.objects.filter(pk=reward.pk).update(stock=0)
    with pytest.raises(OutOfStock):
        reward_redeem(member=member, reward=reward, quantity=1, idempotency_key="k")
    assert not Redemption.objects.filter(member=member).exists()
    assert Account.objects.get(member=member, kind="standard").balance == 1000
