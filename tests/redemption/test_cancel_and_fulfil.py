"""Cancellation (member and merchant), fulfilment and voucher use."""

from datetime import timedelta

import pytest
from django.utils import timezone

from merchants.models import Merchant
from points.models import LedgerEntry, LotAllocation, PointLot
from points.services.accounts import issuance_account, redemption_account
from redemption.models import Redemption, Reward
from redemption.selectors import member_units_held
from redemption.services.errors import (
    InvalidRequest,
    NotCancellable,
    NotFulfillable,
    VoucherNotUsable,
)
from redemption.services.redemptions import (
    compensation_points_for,
    redemption_cancel_by_member,
    redemption_cancel_by_merchant,
    redemption_fulfil,
    reward_redeem,
    voucher_use,
)
from tests.points.helpers import earn, standard

pytestmark = pytest.mark.django_db


def redeem(member, reward, quantity=1, key="k1", **kwargs):
    return reward_redeem(
        member=member, reward=reward, quantity=quantity, idempotency_key=key, **kwargs
    )


@pytest.fixture
def voucher_reward(make_reward):
    return make_reward(
        kind=Reward.Kind.VOUCHER, points_price=200, face_value_fen=1000, validity_days=30
    )


def test_member_cancel_restores_the_exact_lots_and_their_expiry_dates(
    make_member, issuer, make_reward, ledger_ok
):
    # Given three lots with different expiry dates, and a redemption that used two of them
    member = make_member()
    now = timezone.now()
    soon = earn(member, issuer, 300, expires_at=now + timedelta(days=10))
    later = earn(member, issuer, 300, expires_at=now + timedelta(days=90))
    never = earn(member, issuer, 300, expires_at=None)
    reward = make_reward(points_price=500, stock=3)
    redemption = redeem(member, reward)
    lots_before = {
        lot.transaction_id: (lot.remaining, lot.expires_at) for lot in PointLot.objects.all()
    }
    assert lots_before[soon.pk][0] == 0 and lots_before[later.pk][0] == 100

    # When the member cancels
    cancelled = redemption_cancel_by_member(redemption=redemption, member=member)

    # Then the same lots hold their points again, with the same expiry dates, and no new lot
    lots_after = {
        lot.transaction_id: (lot.remaining, lot.expires_at) for lot in PointLot.objects.all()
    }
    assert lots_after == {
        soon.pk: (300, lots_before[soon.pk][1]),
        later.pk: (300, lots_before[later.pk][1]),
        never.pk: (300, None),
    }
    assert sorted(
        LotAllocation.objects.filter(transaction=cancelled.cancel_transaction).values_list(
            "points", flat=True
        )
    ) == [-300, -200]
    assert cancelled.cancel_transaction.kind == "redeem_cancel"
    assert cancelled.cancel_transaction.reverses_id == redemption.ledger_transaction_id
    assert (cancelled.status, cancelled.cancelled_by) == ("cancelled", "member")
    assert cancelled.compensation_points == 0 and cancelled.compensation_transaction is None
    assert standard(member).balance == 900
    reward.refresh_from_db()
    assert reward.stock == 3
    ledger_ok()


def test_cancelling_twice_is_refused_and_gives_nothing_more(funded_member, make_reward):
    member = funded_member(1000)
    redemption = redeem(member, make_reward(points_price=500))
    redemption_cancel_by_member(redemption=redemption, member=member)

    with pytest.raises(NotCancellable):
        redemption_cancel_by_member(redemption=redemption, member=member)

    assert standard(member).balance == 1000


def test_a_member_cannot_cancel_someone_elses_redemption(funded_member, make_reward):
    owner, other = funded_member(1000), funded_member(0)
    redemption = redeem(owner, make_reward(points_price=500))

    with pytest.raises(NotCancellable):
        redemption_cancel_by_member(redemption=redemption, member=other)

    assert Redemption.objects.get(pk=redemption.pk).status == "confirmed"
    assert standard(owner).balance == 500


def test_merchant_cancel_also_credits_compensation_in_a_separate_transaction(
    funded_member, make_reward, merchant, ledger_ok
):
    # Given a 500-point redemption at a merchant paying the default 10% compensation
    member = funded_member(1000)
    reward = make_reward(points_price=500, stock=1)
    redemption = redeem(member, reward)

    # When the merchant cancels because it cannot deliver
    cancelled = redemption_cancel_by_merchant(
        redemption=redemption, reason="断货，无法交付", actor="user:merchant"
    )

    # Then the 500 points come back and 50 compensation points arrive, from the issuer
    assert standard(member).balance == 1050
    compensation = cancelled.compensation_transaction
    assert (compensation.kind, compensation.reason) == ("compensation", "断货，无法交付")
    assert compensation.pk != cancelled.cancel_transaction_id
    entries = dict(
        LedgerEntry.objects.filter(transaction=compensation).values_list("account__code", "points")
    )
    assert entries == {standard(member).code: 50, issuance_account(merchant).code: -50}
    assert (cancelled.compensation_points, cancelled.cancelled_by) == (50, "merchant")
    assert cancelled.cancel_reason == "断货，无法交付"
    reward.refresh_from_db()
    assert reward.stock == 1
    ledger_ok()


def test_compensation_follows_the_merchant_setting_and_is_at_least_one_point(
    funded_member, make_reward, merchant
):
    Merchant.objects.filter(pk=merchant.pk).update(cancel_compensation_percent=25)
    member = funded_member(1000)
    redemption = redeem(member, make_reward(points_price=400, face_value_fen=2000))

    cancelled = redemption_cancel_by_merchant(redemption=redemption, reason="closed")

    assert cancelled.compensation_points == 100
    assert compensation_points_for(3, 10) == 1
    assert compensation_points_for(500, 0) == 0


def test_merchant_cancel_needs_a_reason(funded_member, make_reward):
    member = funded_member(1000)
    redemption = redeem(member, make_reward(points_price=500))

    with pytest.raises(InvalidRequest):
        redemption_cancel_by_merchant(redemption=redemption, reason="  ")

    assert Redemption.objects.get(pk=redemption.pk).status == "confirmed"


def test_a_used_voucher_cannot_be_cancelled(funded_member, voucher_reward, ledger_ok):
    member = funded_member(1000)
    redemption = redeem(member, voucher_reward)
    voucher = redemption.vouchers.get()

    voucher_use(voucher=voucher, actor="user:merchant")

    for cancel in (
        lambda: redemption_cancel_by_member(redemption=redemption, member=member),
        lambda: redemption_cancel_by_merchant(redemption=redemption, reason="oops"),
    ):
        with pytest.raises(NotCancellable):
            cancel()
    assert standard(member).balance == 800
    assert Redemption.objects.get(pk=redemption.pk).status == "fulfilled"
    ledger_ok()


def test_one_used_voucher_of_several_blocks_cancellation(funded_member, voucher_reward):
    member = funded_member(1000)
    redemption = redeem(member, voucher_reward, quantity=2)
    voucher_use(voucher=redemption.vouchers.first())

    with pytest.raises(NotCancellable):
        redemption_cancel_by_member(redemption=redemption, member=member)
    assert Redemption.objects.get(pk=redemption.pk).status == "confirmed"  # one still unused


def test_cancelling_an_unused_voucher_cancels_its_code(funded_member, voucher_reward):
    member = funded_member(1000)
    redemption = redeem(member, voucher_reward)
    redemption_cancel_by_member(redemption=redemption, member=member)
    voucher = redemption.vouchers.get()

    assert voucher.status == "cancelled"
    with pytest.raises(VoucherNotUsable):
        voucher_use(voucher=voucher)


def test_an_expired_voucher_cannot_be_used(funded_member, voucher_reward):
    member = funded_member(1000)
    issued = timezone.now() - timedelta(days=31)
    redemption = redeem(member, voucher_reward, now=issued)

    with pytest.raises(VoucherNotUsable):
        voucher_use(voucher=redemption.vouchers.get())


def test_a_voucher_is_usable_at_any_hour_until_its_last_second(funded_member, voucher_reward):
    member = funded_member(1000)
    issued = timezone.now() - timedelta(days=30) + timedelta(seconds=5)  # 3 a.m. or not
    redemption = redeem(member, voucher_reward, now=issued)

    used = voucher_use(voucher=redemption.vouchers.get())

    assert used.used_at is not None


def test_fulfilling_goods_then_cancel_is_refused(funded_member, make_reward):
    member = funded_member(1000)
    redemption = redeem(member, make_reward(points_price=500))

    fulfilled = redemption_fulfil(redemption=redemption, actor="user:merchant")

    assert (fulfilled.status, fulfilled.fulfilled_at is not None) == ("fulfilled", True)
    with pytest.raises(NotCancellable):
        redemption_cancel_by_member(redemption=redemption, member=member)
    with pytest.raises(NotFulfillable):
        redemption_fulfil(redemption=redemption)
    assert standard(member).balance == 500


def test_a_voucher_redemption_is_fulfilled_through_its_vouchers(funded_member, voucher_reward):
    member = funded_member(1000)
    redemption = redeem(member, voucher_reward)

    with pytest.raises(NotFulfillable):
        redemption_fulfil(redemption=redemption)


def test_a_cancelled_redemption_no_longer_counts_towards_the_limit(funded_member, make_reward):
    member = funded_member(1000)
    reward = make_reward(points_price=500)
    redemption = redeem(member, reward)
    assert member_units_held(member, reward) == 1

    redemption_cancel_by_member(redemption=redemption, member=member)

    assert member_units_held(member, reward) == 0


def test_the_merchants_redemption_account_nets_to_zero_after_a_cancel(
    funded_member, make_reward, merchant, ledger_ok
):
    from points.selectors import account_balance_from_entries

    member = funded_member(1000)
    first = redeem(member, make_reward(points_price=500), key="a")
    redeem(member, make_reward(points_price=300, face_value_fen=1500), key="b")
    redemption_cancel_by_member(redemption=first, member=member)

    assert account_balance_from_entries(redemption_account(merchant)) == 300
    ledger_ok()
