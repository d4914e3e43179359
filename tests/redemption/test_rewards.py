"""The catalog: the value floor in model validation, the service and admin; price history."""

import pytest
from django.core.exceptions import ValidationError

from redemption.models import Reward, RewardPriceChange
from redemption.services.rewards import reward_save, reward_set_active

pytestmark = pytest.mark.django_db


def test_model_validation_refuses_a_price_below_the_value_floor(merchant):
    reward = Reward(merchant=merchant, title="Cheap pen", points_price=600, face_value_fen=2500)

    with pytest.raises(ValidationError) as refused:
        reward.full_clean()

    assert "points_price" in refused.value.message_dict


def test_the_service_refuses_a_bad_price_and_writes_nothing(make_reward):
    reward = make_reward(points_price=500, face_value_fen=2500)
    reward.points_price = 501

    with pytest.raises(ValidationError):
        reward_save(reward=reward)

    reward.refresh_from_db()
    assert reward.points_price == 500
    assert RewardPriceChange.objects.filter(reward=reward).count() == 1


def test_the_floor_follows_the_setting(settings, make_reward):
    settings.POINT_VALUE_FLOOR_FEN = 10

    with pytest.raises(ValidationError):
        make_reward(points_price=500, face_value_fen=2500)


def test_every_price_change_is_kept_in_the_history(make_reward):
    reward = make_reward(points_price=500, face_value_fen=2500)
    reward.description = "no price change"
    reward_save(reward=reward)
    reward.points_price = 450
    reward_save(reward=reward, actor="user:merchant")

    history = list(reward.price_changes.order_by("id").values_list("points_price", "changed_by"))

    assert history == [(500, "system"), (450, "user:merchant")]


def test_a_voucher_needs_a_validity_and_only_vouchers_have_one(merchant):
    voucher = Reward(
        merchant=merchant,
        title="V",
        kind=Reward.Kind.VOUCHER,
        points_price=100,
        face_value_fen=1000,
    )
    goods = Reward(
        merchant=merchant, title="G", points_price=100, face_value_fen=1000, validity_days=30
    )

    with pytest.raises(ValidationError) as voucher_refused:
        voucher.full_clean()
    with pytest.raises(ValidationError) as goods_refused:
        goods.full_clean()

    assert "validity_days" in voucher_refused.value.message_dict
    assert "validity_days" in goods_refused.value.message_dict


def test_a_category_of_another_merchant_is_refused(merchant):
    from merchants.models import Category, Merchant

    other = Merchant.objects.create(name="Other", slug="other")
    category = Category.objects.create(merchant=other, name="Pens", slug="pens")
    reward = Reward(
        merchant=merchant, category=category, title="X", points_price=100, face_value_fen=1000
    )

    with pytest.raises(ValidationError) as refused:
        reward.full_clean()
    assert "category" in refused.value.message_dict


def test_deactivating_hides_a_reward(make_reward):
    reward = make_reward()

    reward_set_active(reward=reward, active=False)

    assert Reward.objects.get(pk=reward.pk).active is False


def test_admin_refuses_a_breaking_price_with_a_clear_message(admin_client, make_reward):
    reward = make_reward(points_price=500, face_value_fen=2500)
    url = f"/admin/redemption/reward/{reward.pk}/change/"
    form = {
        "merchant": reward.merchant_id,
        "title": reward.title,
        "kind": "goods",
        "points_price": 1000,
        "cash_price_fen": 0,
        "face_value_fen": "25.00",  # admin takes yuan
        "active": "on",
        "description": "",
        "PriceSchedule_rewards-TOTAL_FORMS": 0,
        "PriceSchedule_rewards-INITIAL_FORMS": 0,
        "price_changes-TOTAL_FORMS": 1,
        "price_changes-INITIAL_FORMS": 1,
        "price_changes-0-id": reward.price_changes.get().pk,
        "price_changes-0-reward": reward.pk,
    }

    response = admin_client.post(url, form)

    assert response.status_code == 200  # the form again, with the error, not a redirect
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["points_price"]
    assert "500" in errors["points_price"][0]  # "the points price can be at most 500"
    assert Reward.objects.get(pk=reward.pk).points_price == 500


def test_admin_saves_a_good_price_and_records_it(admin_client, make_reward):
    reward = make_reward(points_price=500, face_value_fen=2500)
    form = {
        "merchant": reward.merchant_id,
        "title": reward.title,
        "kind": "goods",
        "points_price": 400,
        "cash_price_fen": 0,
        "face_value_fen": "25.00",  # admin takes yuan
        "active": "on",
        "description": "",
        "PriceSchedule_rewards-TOTAL_FORMS": 0,
        "PriceSchedule_rewards-INITIAL_FORMS": 0,
        "price_changes-TOTAL_FORMS": 1,
        "price_changes-INITIAL_FORMS": 1,
        "price_changes-0-id": reward.price_changes.get().pk,
        "price_changes-0-reward": reward.pk,
    }

    response = admin_client.post(f"/admin/redemption/reward/{reward.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(reward.price_changes.values_list("points_price", flat=True)) == [400, 500]


def test_admin_pages_render(admin_client, make_reward):
    make_reward()
    for url in (
        "/admin/redemption/reward/",
        "/admin/redemption/reward/add/",
        "/admin/redemption/priceschedule/",
        "/admin/redemption/priceschedule/add/",
        "/admin/redemption/redemption/",
        "/admin/redemption/voucher/",
    ):
        assert admin_client.get(url).status_code == 200, url
