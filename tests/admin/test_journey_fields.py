"""The new back-office fields (a reward's pickup store and instructions, a store's opening
hours, a schedule's display kind and free text) refuse bad values with a Chinese message,
never a 500, and a merchant can only pick its own stores."""

import pytest

from merchants.models import Store
from redemption.models import PriceSchedule, Reward

pytestmark = pytest.mark.django_db

ADD_REWARD = "/admin/redemption/reward/add/"


def reward_form(shop, **fields):
    return {
        "title": "取货测试奖品",
        "description": "",
        "kind": "goods",
        "points_price": 200,
        "cash_price_fen": 0,
        "face_value_fen": 1000,
        "stock": 5,
        "active": "on",
        "PriceSchedule_rewards-TOTAL_FORMS": 0,
        "PriceSchedule_rewards-INITIAL_FORMS": 0,
        "price_changes-TOTAL_FORMS": 0,
        "price_changes-INITIAL_FORMS": 0,
        **fields,
    }


def test_a_merchant_sets_its_own_pickup_store_and_instructions(as_merchant_a, shop_a):
    response = as_merchant_a.post(
        ADD_REWARD,
        reward_form(shop_a, pickup_store=shop_a.store.pk, pickup_instructions="带上会员卡"),
    )

    assert response.status_code == 302
    reward = Reward.objects.get(title="取货测试奖品")
    assert (reward.pickup_store, reward.pickup_instructions) == (shop_a.store, "带上会员卡")


def test_another_merchants_store_is_not_offered_nor_accepted(as_merchant_a, shop_a, shop_b):
    page = as_merchant_a.get(ADD_REWARD)
    choices = [pk for pk, _label in page.context["adminform"].form.fields["pickup_store"].choices]
    assert shop_b.store.pk not in [getattr(pk, "value", pk) for pk in choices]

    response = as_merchant_a.post(ADD_REWARD, reward_form(shop_a, pickup_store=shop_b.store.pk))

    assert response.status_code == 200
    assert "选择一个有效的选项" in response.content.decode()
    assert not Reward.objects.filter(title="取货测试奖品").exists()


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"pickup_store": "-1"}, "选择一个有效的选项"),
        ({"pickup_store": "abc"}, "选择一个有效的选项"),
        ({"pickup_store": "9" * 40}, "选择一个有效的选项"),
        ({"pickup_store": "99999999"}, "选择一个有效的选项"),
        ({"pickup_instructions": "说" * 1001}, "1000"),
        ({"kind": "voucher", "validity_days": 30, "pickup_store": "STORE"}, "无需设置取货门店"),
    ],
)
def test_bad_pickup_fields_are_refused_with_a_chinese_message(
    as_merchant_a, shop_a, fields, message
):
    fields = {k: (shop_a.store.pk if v == "STORE" else v) for k, v in fields.items()}

    response = as_merchant_a.post(ADD_REWARD, reward_form(shop_a, **fields))

    assert response.status_code == 200  # the admin shows the form again with its errors
    assert message in response.content.decode()
    assert not Reward.objects.filter(title="取货测试奖品").exists()


def test_a_non_utf8_pickup_instruction_is_never_a_500(as_merchant_a, shop_a):
    from urllib.parse import urlencode

    body = urlencode(reward_form(shop_a)).encode() + b"&pickup_instructions=%FF%FE"
    response = as_merchant_a.generic(
        "POST", ADD_REWARD, body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (200, 302, 400)


@pytest.mark.parametrize("hours, ok", [("每天 09:00-21:00", True), ("时" * 121, False)])
def test_store_opening_hours_are_kept_or_refused(as_merchant_a, shop_a, hours, ok):
    url = f"/admin/merchants/store/{shop_a.store.pk}/change/"
    response = as_merchant_a.post(
        url, {"name": "A Store", "code": "main", "address": "地址", "opening_hours": hours}
    )

    shop_a.store.refresh_from_db()
    if ok:
        assert response.status_code == 302 and shop_a.store.opening_hours == hours
    else:
        assert response.status_code == 200 and "121" in response.content.decode()
        assert shop_a.store.opening_hours == ""


@pytest.mark.parametrize(
    "display_kind, name, message",
    [
        ("bogus", "", "选择一个有效的选项"),
        ("", "", "这个字段是必填项"),
        ("back_to_school", "字" * 121, "121"),
    ],
)
def test_a_schedules_display_kind_and_free_text_are_validated(
    as_merchant_a, shop_a, display_kind, name, message
):
    response = as_merchant_a.post(
        "/admin/redemption/priceschedule/add/",
        {
            "display_kind": display_kind,
            "name": name,
            "kind": "seasonal",
            "percent_off": 10,
            "starts_on": "2026-09-01",
            "ends_on": "2026-09-30",
            "active": "on",
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body or "该字段是必填项" in body
    assert not PriceSchedule.objects.filter(starts_on="2026-09-01").exists()


def test_a_schedule_is_saved_with_its_display_kind(as_merchant_a, shop_a):
    response = as_merchant_a.post(
        "/admin/redemption/priceschedule/add/",
        {
            "display_kind": "back_to_school",
            "name": "",
            "kind": "seasonal",
            "percent_off": 10,
            "starts_on": "2026-09-01",
            "ends_on": "2026-09-30",
            "active": "on",
        },
    )
    assert response.status_code == 302
    schedule = PriceSchedule.objects.get(starts_on="2026-09-01")
    assert str(schedule) == "开学季" and schedule.merchant == shop_a.merchant
    assert Store.objects.filter(merchant=shop_a.merchant).exists()
