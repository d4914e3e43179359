"""The issue's "done when", on the demo data: `merchant` adds a reward with a seasonal price,
members see it, `merchant` sees its redemption and fulfils it; `merchant2` gets a 404."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from redemption.models import PriceSchedule, Redemption, Reward
from redemption.services.redemptions import reward_redeem
from tests.admin.conftest import client_for, ensure_roles

pytestmark = pytest.mark.django_db


def test_merchant_adds_a_seasonal_reward_members_redeem_it_and_merchant2_cannot_see_it(ledger_ok):
    call_command("seed_demo", stdout=StringIO())
    ensure_roles()
    users = {u.username: u for u in get_user_model().objects.all()}
    merchant, merchant2 = client_for(users["merchant"]), client_for(users["merchant2"])
    winter = PriceSchedule.objects.get(display_kind="back_to_school")  # chenguang-demo, 20% off

    add_page = merchant.get("/admin/redemption/reward/add/")
    response = merchant.post(
        "/admin/redemption/reward/add/",
        {
            "title": "晨光 文具礼盒",
            "description": "",
            "category": winter.merchant.categories.get(slug="notebooks").pk,
            "kind": "goods",
            "points_price": 200,
            "cash_price_fen": 0,
            "face_value_fen": "10.00",  # admin takes yuan
            "stock": 5,
            "active": "on",
            "PriceSchedule_rewards-TOTAL_FORMS": 1,
            "PriceSchedule_rewards-INITIAL_FORMS": 0,
            "PriceSchedule_rewards-0-priceschedule": winter.pk,
            "price_changes-TOTAL_FORMS": 0,
            "price_changes-INITIAL_FORMS": 0,
        },
    )
    assert add_page.status_code == 200 and response.status_code == 302
    reward = Reward.objects.get(title="晨光 文具礼盒")
    assert reward.merchant.slug == "chenguang-demo"

    member_page = client_for(users["demo"]).get(f"/rewards/{reward.pk}/").content.decode()
    assert "晨光 文具礼盒" in member_page and "160" in member_page
    assert "晨光 文具礼盒" in client_for(users["demo"]).get("/rewards/").content.decode()

    redemption = reward_redeem(
        member=users["demo"].member, reward=reward, quantity=1, idempotency_key="done-when"
    )
    assert redemption.points_total == 160
    listed = merchant.get(f"/admin/redemption/redemption/?reward__id__exact={reward.pk}")
    assert [r.pk for r in listed.context["cl"].result_list] == [redemption.pk]
    merchant.post(
        "/admin/redemption/redemption/",
        {"action": "mark_fulfilled", "_selected_action": [redemption.pk]},
    )
    assert Redemption.objects.get(pk=redemption.pk).status == "fulfilled"

    assert merchant2.get(f"/admin/redemption/reward/{reward.pk}/change/").status_code == 404
    assert merchant2.get(f"/admin/redemption/redemption/{redemption.pk}/change/").status_code == 404
    ledger_ok()
