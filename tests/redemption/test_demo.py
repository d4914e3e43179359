"""The issue's "done when": the demo member redeems the notebook set in the winter break."""

import re

import pytest
from django.core.management import call_command

from points.models import Member, PointLot
from redemption.models import PriceSchedule, Redemption, Reward
from tests.points.helpers import standard

pytestmark = pytest.mark.django_db


def lots_of(member):
    return {
        lot.pk: (lot.remaining, lot.expires_at)
        for lot in PointLot.objects.filter(account=standard(member))
    }


def test_seed_demo_creates_the_catalog_and_is_idempotent():
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    call_command("seed_demo", stdout=open("/dev/null", "w"))

    rewards = {
        r.title: (r.points_price, r.cash_price_fen, r.face_value_fen, r.kind)
        for r in Reward.objects.filter(merchant__slug="chenguang-demo")
    }
    assert rewards == {
        "笔记本套装": (500, 0, 2500, "goods"),
        "高级钢笔": (1000, 0, 5000, "goods"),
        "定制 Logo 印刷服务": (2000, 10000, 30000, "service"),
    }
    assert Reward.objects.count() == 4  # plus a voucher at the second merchant
    assert PriceSchedule.objects.count() == 2
    assert PriceSchedule.objects.get(name="积分兑换日").day_of_month == 18


def test_demo_redeems_the_notebook_set_for_400_and_cancels_to_get_the_same_lots_back(
    settings, client, ledger_ok
):
    # Given the demo data, with points that expire (so expiry dates matter)
    settings.POINTS_EXPIRY_MONTHS = 12
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    demo = Member.objects.get(member_no="M00000001")
    notebook = Reward.objects.get(title="笔记本套装")
    balance_before, lots_before = standard(demo).balance, lots_of(demo)
    login = client.post("/accounts/login/", {"username": "demo", "password": "demo12345"})
    assert login.status_code == 302

    # When demo redeems the notebook set during 开学季 (back to school), through the pages
    detail = client.get(f"/rewards/{notebook.pk}/").content.decode()
    assert 'data-testid="price">400<' in detail and "开学季" in detail
    confirm = client.get(f"/rewards/{notebook.pk}/redeem/", {"quantity": 1}).content.decode()
    token = re.search(r'name="token" value="([0-9a-f]{32})"', confirm).group(1)
    mine = client.post(
        f"/rewards/{notebook.pk}/redeem/", {"quantity": 1, "token": token}, follow=True
    )

    # Then it cost 400 points and shows in /me/redemptions/ with its price snapshot
    redemption = Redemption.objects.get(member=demo)
    assert (redemption.points_total, redemption.schedule_name) == (400, "开学季")
    assert standard(demo).balance == balance_before - 400
    body = mine.content.decode()
    assert mine.redirect_chain[-1][0].startswith("/me/redemptions/")
    assert 'data-testid="points">400<' in body and "原价 500" in body and "开学季" in body
    ledger_ok()

    # When demo cancels
    client.post(f"/me/redemptions/{redemption.pk}/cancel/")

    # Then the same 400 points come back into the same lots, with the same expiry dates
    assert standard(demo).balance == balance_before
    assert lots_of(demo) == lots_before
    call_command("verify_ledger", stdout=open("/dev/null", "w"))
    ledger_ok()
