"""Member pages: catalog, detail, the confirmation step, my redemptions, cancel."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from merchants.models import Merchant
from redemption.models import PriceSchedule, Redemption, Reward
from redemption.services.redemptions import reward_redeem
from tests.points.helpers import standard

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, funded_member):
    member = funded_member(1000)
    client.force_login(member.user)
    client.member = member
    return client


def token_of(response) -> str:
    return re.search(r'name="token" value="([0-9a-f]{32})"', response.content.decode()).group(1)


def test_pages_require_login(client, make_reward):
    reward = make_reward()
    for url in ("/rewards/", f"/rewards/{reward.pk}/", "/me/redemptions/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_catalog_lists_active_rewards_with_todays_price_in_few_queries(
    member_client, make_reward, merchant, django_assert_max_num_queries
):
    notebook = make_reward(title="笔记本套装", points_price=500)
    for n in range(10):
        make_reward(title=f"Pen {n}", points_price=100, face_value_fen=500)
    make_reward(title="Hidden", active=False)
    today = timezone.localdate()
    winter = PriceSchedule.objects.create(
        merchant=merchant,
        name="寒假特惠",
        percent_off=20,
        starts_on=today - timedelta(days=1),
        ends_on=today + timedelta(days=1),
    )
    winter.rewards.add(notebook)

    with django_assert_max_num_queries(12):
        response = member_client.get("/rewards/")

    body = response.content.decode()
    assert response.status_code == 200
    assert "笔记本套装" in body and "Hidden" not in body
    assert re.search(rf'data-testid="reward-{notebook.pk}".*?data-testid="price">400<', body, re.S)
    assert "寒假特惠" in body
    assert '<html lang="zh-CN">' in body and "积分" in body


def test_the_detail_page_shows_the_value_guarantee_and_the_price_history(
    member_client, make_reward
):
    from redemption.services.rewards import reward_save

    reward = make_reward(title="高级钢笔", points_price=1000, face_value_fen=5000)
    reward.points_price = 900
    reward_save(reward=reward)

    body = member_client.get(f"/rewards/{reward.pk}/").content.decode()

    guarantee = body.split('data-testid="value-guarantee"')[1].split("</section>")[0]
    assert "5" in guarantee and "0.0555" in guarantee  # ¥45 / 900 points
    history = body.split('data-testid="price-history"')[1].split("</section>")[0]
    assert "1000" in history and "900" in history


def test_a_hidden_or_unknown_reward_page_is_a_404_not_a_500(member_client, make_reward):
    other = Merchant.objects.create(name="绿叶 Test", slug="greenleaf-test")
    hidden = make_reward(merchant=other, active=False)

    assert member_client.get(f"/rewards/{hidden.pk}/").status_code == 404
    assert member_client.get("/rewards/999999/").status_code == 404
    assert member_client.post(f"/rewards/{hidden.pk}/redeem/", {}).status_code == 404


def test_redeem_with_confirmation_makes_one_redemption_even_when_submitted_twice(
    member_client, make_reward, ledger_ok
):
    # Given the confirmation page for two units
    reward = make_reward(points_price=300, face_value_fen=1500, stock=5)
    confirm = member_client.get(f"/rewards/{reward.pk}/redeem/", {"quantity": 2})
    assert confirm.status_code == 200
    assert 'data-testid="total"><strong>600<' in confirm.content.decode()
    form = {"quantity": 2, "token": token_of(confirm)}

    # When the member presses confirm twice
    first = member_client.post(f"/rewards/{reward.pk}/redeem/", form)
    second = member_client.post(f"/rewards/{reward.pk}/redeem/", form, follow=True)

    # Then one redemption is made and both land on "my redemptions"
    assert first.status_code == 302 and first["Location"].startswith("/me/redemptions/")
    assert Redemption.objects.count() == 1
    assert standard(member_client.member).balance == 400
    assert second.status_code == 200
    assert len(re.findall(r'data-testid="redemption-\d+"', second.content.decode())) == 1
    ledger_ok()


def test_the_confirmation_step_needs_post_and_csrf(client, funded_member, make_reward):
    from django.test import Client

    member = funded_member(1000)
    reward = make_reward(points_price=300, face_value_fen=1500)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member.user)
    token = token_of(strict.get(f"/rewards/{reward.pk}/redeem/", {"quantity": 1}))

    response = strict.post(f"/rewards/{reward.pk}/redeem/", {"quantity": 1, "token": token})

    assert response.status_code == 403
    assert Redemption.objects.count() == 0


@pytest.mark.parametrize("quantity", ["0", "-1", "1000000", "abc", "", "1.5"])
def test_bad_quantities_get_a_clear_message_and_change_nothing(
    member_client, make_reward, quantity
):
    reward = make_reward(points_price=300, face_value_fen=1500, stock=5)

    shown = member_client.get(f"/rewards/{reward.pk}/redeem/", {"quantity": quantity}, follow=True)
    posted = member_client.post(
        f"/rewards/{reward.pk}/redeem/", {"quantity": quantity, "token": "a" * 32}, follow=True
    )

    for response in (shown, posted):
        assert response.status_code == 200
        assert 'class="error"' in response.content.decode()
    assert Redemption.objects.count() == 0
    assert standard(member_client.member).balance == 1000


def test_a_forged_token_is_refused(member_client, make_reward):
    reward = make_reward(points_price=300, face_value_fen=1500)

    response = member_client.post(
        f"/rewards/{reward.pk}/redeem/", {"quantity": 1, "token": "<script>"}, follow=True
    )

    assert response.status_code == 200 and 'class="error"' in response.content.decode()
    assert Redemption.objects.count() == 0


def test_short_of_points_the_page_says_so(member_client, make_reward):
    reward = make_reward(title="定制服务", points_price=2000, face_value_fen=30000)

    confirm = member_client.get(f"/rewards/{reward.pk}/redeem/", {"quantity": 1})
    assert 'data-testid="confirm"' not in confirm.content.decode()
    assert "2000" in confirm.content.decode() and "1000" in confirm.content.decode()
    response = member_client.post(
        f"/rewards/{reward.pk}/redeem/", {"quantity": 1, "token": "b" * 32}, follow=True
    )

    assert "2000" in response.content.decode()
    assert Redemption.objects.count() == 0


def test_out_of_stock_the_page_says_so(member_client, make_reward):
    reward = make_reward(points_price=300, face_value_fen=1500, stock=0)

    detail = member_client.get(f"/rewards/{reward.pk}/").content.decode()
    response = member_client.post(
        f"/rewards/{reward.pk}/redeem/", {"quantity": 1, "token": "c" * 32}, follow=True
    )

    assert 'class="error"' in detail
    messages = [str(m) for m in response.context["messages"]]
    assert messages and ("缺货" in messages[0] or "库存" in messages[0])
    assert Redemption.objects.count() == 0


def test_my_redemptions_shows_snapshot_voucher_and_cancel_in_few_queries(
    member_client, make_reward, merchant, django_assert_max_num_queries
):
    member = member_client.member
    today = timezone.localdate()
    notebook = make_reward(title="笔记本套装", points_price=500)
    winter = PriceSchedule.objects.create(
        merchant=merchant,
        name="寒假特惠",
        percent_off=20,
        starts_on=today - timedelta(days=1),
        ends_on=today + timedelta(days=1),
    )
    winter.rewards.add(notebook)
    voucher = make_reward(
        kind=Reward.Kind.VOUCHER, points_price=100, face_value_fen=1000, validity_days=30
    )
    reward_redeem(member=member, reward=notebook, quantity=1, idempotency_key="a")
    v = reward_redeem(member=member, reward=voucher, quantity=2, idempotency_key="b")

    with django_assert_max_num_queries(8):
        response = member_client.get("/me/redemptions/")

    body = response.content.decode()
    assert "寒假特惠" in body and "500" in body and 'data-testid="points">400<' in body
    for code in v.vouchers.values_list("code", flat=True):
        assert code in body
    assert body.count('data-testid="cancel"') == 2


def test_cancel_from_my_redemptions_gives_the_points_back(member_client, make_reward, ledger_ok):
    member = member_client.member
    redemption = reward_redeem(
        member=member, reward=make_reward(points_price=500), quantity=1, idempotency_key="x"
    )

    response = member_client.post(f"/me/redemptions/{redemption.pk}/cancel/", follow=True)

    assert response.status_code == 200
    assert Redemption.objects.get(pk=redemption.pk).status == "cancelled"
    assert standard(member).balance == 1000
    again = member_client.post(f"/me/redemptions/{redemption.pk}/cancel/", follow=True)
    assert 'class="error"' in again.content.decode()
    assert 'data-testid="cancel"' not in again.content.decode()
    ledger_ok()


def test_a_member_cannot_cancel_another_members_redemption(
    member_client, funded_member, make_reward
):
    other = funded_member(1000)
    redemption = reward_redeem(
        member=other, reward=make_reward(points_price=500), quantity=1, idempotency_key="x"
    )

    assert member_client.post(f"/me/redemptions/{redemption.pk}/cancel/").status_code == 404
    assert member_client.get(f"/me/redemptions/{redemption.pk}/cancel/").status_code == 405
    assert Redemption.objects.get(pk=redemption.pk).status == "confirmed"


def test_staff_without_a_member_card_see_a_message_not_an_error(
    client, django_user_model, make_reward
):
    reward = make_reward()
    user = django_user_model.objects.create_user(username="ops", password="pw", is_staff=True)
    client.force_login(user)

    for url in ("/rewards/", f"/rewards/{reward.pk}/", "/me/redemptions/"):
        assert client.get(url).status_code == 200
    response = client.post(
        f"/rewards/{reward.pk}/redeem/", {"quantity": 1, "token": "d" * 32}, follow=True
    )
    assert response.status_code == 200 and Redemption.objects.count() == 0


def test_the_pages_are_available_in_english(member_client, make_reward):
    make_reward()

    body = member_client.get("/rewards/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Rewards" in body and "points" in body


def test_there_is_no_cash_out_anywhere():
    from django.urls import get_resolver

    def names(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from names(pattern.url_patterns)
            else:
                yield str(pattern.pattern)

    routes = list(names(get_resolver().url_patterns))
    assert "rewards/" in routes
    assert not [r for r in routes if re.search(r"cash|withdraw|payout", r, re.I)]
