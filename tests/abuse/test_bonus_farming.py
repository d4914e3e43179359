"""Bonus farming through the POS API: the first-purchase bonus follows real consumption,
refunds take it back, and a merchant farming its own reward is not paid for bonus points."""

import itertools
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from points.models import LedgerTransaction
from points.services.bonuses import SIGNUP, bonus_grant
from redemption.services.redemptions import reward_redeem
from redemption.services.rewards import reward_create
from reports.periods import parse_month
from reports.selectors import bonus_payable, settlement_statement
from tests.points.helpers import standard

pytestmark = pytest.mark.django_db
_keys = itertools.count(1)


def post(client, path, body):
    return client.post(
        f"/api/v1/{path}",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=f"farm-{next(_keys)}",
    )


def buy(pos, member, *amounts_fen, receipt="R-1"):
    lines = [
        {"line_no": n, "category": "pens", "quantity": 1, "amount_fen": fen}
        for n, fen in enumerate(amounts_fen, start=1)
    ]
    response = post(
        pos,
        "purchases",
        {
            "member_no": member.member_no,
            "receipt_no": receipt,
            "occurred_at": (timezone.localtime() - timedelta(minutes=1)).isoformat(),
            "lines": lines,
        },
    )
    assert response.status_code == 201, response.content
    return response.json()


def refund(pos, *line_nos, receipt="R-1", refund_no="RF-1"):
    response = post(
        pos,
        "refunds",
        {
            "receipt_no": receipt,
            "refund_no": refund_no,
            "lines": [{"line_no": n, "quantity": 1} for n in line_nos],
        },
    )
    assert response.status_code == 201, response.content
    return response.json()


def bonuses(member):
    return LedgerTransaction.objects.filter(kind="bonus", member=member)


@pytest.mark.parametrize("fen", [1, 99, 1999])
def test_a_first_purchase_under_the_minimum_earns_no_bonus(pos, make_member, fen, ledger_ok):
    member = make_member()

    body = buy(pos, member, fen)

    assert body["bonus_points"] == 0
    assert not bonuses(member).exists()
    assert standard(member).balance == fen // 100
    ledger_ok()


def test_a_first_purchase_of_exactly_the_minimum_earns_the_bonus(pos, make_member, ledger_ok):
    member = make_member()

    body = buy(pos, member, 2000)

    assert body["bonus_points"] == 100
    assert bonuses(member).get().breakdown["purchase"] is not None
    ledger_ok()


def test_the_minimum_is_a_setting(pos, make_member, settings):
    settings.POINTS_FIRST_PURCHASE_MIN_FEN = 5000
    member = make_member()

    assert buy(pos, member, 4999)["bonus_points"] == 0


def test_a_later_purchase_after_an_unqualified_first_one_earns_no_bonus(pos, make_member):
    member = make_member()
    buy(pos, member, 1, receipt="R-1")

    assert buy(pos, member, 5000, receipt="R-2")["bonus_points"] == 0  # 首单 only


def test_a_refund_below_the_minimum_reverses_the_bonus(pos, make_member, ledger_ok):
    member = make_member()
    buy(pos, member, 1500, 1500)  # ¥30: qualifies, 30 points + 100 bonus

    refund(pos, 1)  # ¥15 left: below ¥20

    reversal = bonuses(member).get(reverses__isnull=False)
    assert reversal.breakdown["points"] == -100
    assert standard(member).balance == 15
    ledger_ok()


def test_a_refund_that_stays_above_the_minimum_keeps_the_bonus(pos, make_member, ledger_ok):
    member = make_member()
    buy(pos, member, 2000, 500)

    refund(pos, 2)  # ¥20 left

    assert not bonuses(member).filter(reverses__isnull=False).exists()
    assert standard(member).balance == 20 + 100
    ledger_ok()


def test_a_second_refund_does_not_reverse_the_bonus_twice(pos, make_member, ledger_ok):
    member = make_member()
    buy(pos, member, 1000, 1000, 1000)

    refund(pos, 1, refund_no="RF-1")
    refund(pos, 2, refund_no="RF-2")
    refund(pos, 3, refund_no="RF-3")

    assert bonuses(member).filter(reverses__isnull=False).count() == 1
    assert standard(member).balance == 0
    ledger_ok()


def _spend_everything(member, merchant):
    reward = reward_create(
        merchant=merchant,
        title="Voucher",
        points_price=standard(member).balance,
        face_value_fen=standard(member).balance * 5,
    )
    reward_redeem(member=member, reward=reward, quantity=1, idempotency_key="spend-all")


def test_a_spent_bonus_is_reversed_into_a_debt_by_default(pos, shop, make_member, ledger_ok):
    member = make_member()
    buy(pos, member, 2000)
    _spend_everything(member, shop.store.merchant)  # 20 + 100 points spent

    body = refund(pos, 1)

    assert body["balance"] == -120
    assert bonuses(member).get(reverses__isnull=False).breakdown["points"] == -100
    ledger_ok()


def test_a_spent_bonus_under_cap_at_balance_takes_only_what_is_left(
    pos, shop, make_member, settings, ledger_ok
):
    settings.REFUND_POLICY = "cap_at_balance"
    member = make_member()
    buy(pos, member, 2000)
    _spend_everything(member, shop.store.merchant)

    body = refund(pos, 1)

    assert body["balance"] == 0
    assert not bonuses(member).filter(reverses__isnull=False).exists()
    ledger_ok()


def test_a_month_of_farmed_redemptions_pays_the_merchant_within_the_cap(
    pos, shop, make_member, settings, ledger_ok
):
    """Twenty throwaway members: a sign-up bonus, a qualifying purchase refunded the next
    minute (so no bonus left), and what is left of the bonuses spent on the merchant's own
    reward. Then a month of real trade of the same size."""
    merchant = shop.store.merchant
    voucher = reward_create(
        merchant=merchant, title="¥5 voucher", points_price=100, face_value_fen=500
    )
    for n in range(20):
        member = make_member()
        bonus_grant(member=member, kind=SIGNUP)
        buy(pos, member, 2000, receipt=f"F-{n}")
        refund(pos, 1, receipt=f"F-{n}", refund_no=f"FR-{n}")
        assert standard(member).balance == 100  # only the sign-up bonus is left
        reward_redeem(member=member, reward=voucher, quantity=1, idempotency_key=f"farm-{n}")
    real = make_member()
    buy(pos, real, 50000, receipt="REAL-1")  # 500 points earned by a real purchase
    reward_redeem(member=real, reward=voucher, quantity=5, idempotency_key="real")

    line = next(
        line
        for line in settlement_statement(parse_month(timezone.localdate().strftime("%Y-%m"))).lines
        if line.merchant == merchant
    )

    assert line.redeemed == 2000 + 500
    assert line.redeemed_bonus >= 2000
    assert line.bonus_paid <= settings.SETTLEMENT_BONUS_SHARE_MAX * line.redeemed_earned
    assert line.redeemed_paid <= line.redeemed_earned * (1 + settings.SETTLEMENT_BONUS_SHARE_MAX)
    ledger_ok()


def test_a_merchant_with_only_bonus_redemptions_is_paid_nothing_for_them():
    assert bonus_payable(redeemed_earned=0, redeemed_bonus=2000, share_max=0.2) == 0
    assert bonus_payable(redeemed_earned=1000, redeemed_bonus=2000, share_max=0.2) == 200
    assert bonus_payable(redeemed_earned=1000, redeemed_bonus=50, share_max=0.2) == 50
    assert bonus_payable(redeemed_earned=-10, redeemed_bonus=50, share_max=0.2) == 0


def test_members_are_told_the_first_purchase_offer_in_chinese(client):
    body = client.get("/accounts/signup/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "首单满 20 元送 100 积分" in body


def test_the_offer_follows_the_settings(client, settings):
    settings.POINTS_FIRST_PURCHASE_MIN_FEN = 3050

    assert "首单满 30.50 元送 100 积分" in client.get("/accounts/signup/").content.decode()
