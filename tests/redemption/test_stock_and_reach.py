"""Stock messages say 已兑完 only at 0 and "库存不足，最多可兑 N 件" otherwise; the catalog,
a reward page and the dashboard never say "足够兑换" for a reward the member cannot redeem
now (sold out, their limit reached, a negative balance)."""

import pytest

from points.services.ledger import Overdraft
from redemption.services.errors import OutOfStock
from redemption.services.redemptions import reward_redeem
from tests.points.helpers import reverse

pytestmark = pytest.mark.django_db

ENOUGH = "您现在的积分已足够兑换"


def chinese(client):
    client.cookies["django_language"] = "zh-hans"
    return client


def test_asking_60_of_50_says_at_most_50_not_sold_out(client, funded_member, make_reward):
    member = funded_member(points=100_000)
    reward = make_reward(points_price=10, face_value_fen=100, stock=50)
    chinese(client).force_login(member.user)

    page = client.get(f"/rewards/{reward.pk}/redeem/?quantity=60").content.decode()

    assert "库存不足，最多可兑 50 件" in page
    assert "已兑完" not in page


def test_the_service_refuses_60_of_50_with_the_same_words(funded_member, make_reward):
    from django.utils import translation

    member = funded_member(points=100_000)
    reward = make_reward(points_price=10, face_value_fen=100, stock=50)
    with translation.override("zh-hans"), pytest.raises(OutOfStock) as refused:
        reward_redeem(member=member, reward=reward, quantity=60, idempotency_key="k")
    with translation.override("zh-hans"):
        assert str(refused.value.message) == "库存不足，最多可兑 50 件"


def test_stock_0_says_sold_out(client, funded_member, make_reward):
    member = funded_member(points=1000)
    reward = make_reward(stock=0)
    chinese(client).force_login(member.user)

    page = client.get(f"/rewards/{reward.pk}/redeem/?quantity=1").content.decode()

    assert "已兑完" in page and "库存不足，最多" not in page


@pytest.fixture
def catalog(client, funded_member, make_reward):
    member = funded_member(points=1000)
    rewards = {
        "open": make_reward(title="Open", points_price=500),
        "sold_out": make_reward(title="Sold out", points_price=500, stock=0),
        "limited": make_reward(title="Limited", points_price=100, per_member_limit=1),
    }
    reward_redeem(member=member, reward=rewards["limited"], quantity=1, idempotency_key="once")
    chinese(client).force_login(member.user)
    return member, rewards


def _card(body, reward):
    return body.split(f'data-testid="reward-{reward.pk}"')[1].split("</li>")[0]


def test_the_catalog_says_enough_only_for_a_reward_the_member_can_redeem(client, catalog):
    member, rewards = catalog

    body = client.get("/rewards/").content.decode()

    assert ENOUGH in _card(body, rewards["open"])
    assert ENOUGH not in _card(body, rewards["sold_out"])
    assert "已兑完" in _card(body, rewards["sold_out"])
    assert ENOUGH not in _card(body, rewards["limited"])
    affordable = client.get("/rewards/?affordable=1").content.decode()
    assert "Open" in affordable and "Sold out" not in affordable and "Limited" not in affordable


def test_the_reward_page_does_not_say_enough_for_a_sold_out_reward(client, catalog):
    _, rewards = catalog
    assert ENOUGH not in client.get(f"/rewards/{rewards['sold_out'].pk}/").content.decode()
    assert ENOUGH in client.get(f"/rewards/{rewards['open'].pk}/").content.decode()


def test_the_dashboard_counts_only_rewards_the_member_can_redeem_now(client, catalog):
    (section,) = [context for _, context in client.get("/").context["sections"]]
    assert section["affordable"] == 1  # "Open"; not the sold-out one, not the limited one


def test_a_member_in_debt_is_never_told_enough(
    client, funded_member, make_reward, issuer, merchant
):
    from tests.points.helpers import earn, spend

    member = funded_member(points=0)
    purchase = earn(member, issuer, 300)
    spend(member, merchant, 200)
    reverse(purchase, overdraft=Overdraft.ALLOW)  # 100 - 300: 200 owed
    reward = make_reward(points_price=1, face_value_fen=100)
    chinese(client).force_login(member.user)

    body = client.get("/rewards/").content.decode()

    assert ENOUGH not in _card(body, reward)
