"""The catalog's filters and the dashboard's rewards section."""

import pytest

from merchants.models import Category, Merchant

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(make_reward, merchant):
    other = Merchant.objects.create(name="绿叶", slug="greenleaf-t")
    notebooks = Category.objects.create(merchant=merchant, name="笔记本", slug="notebooks")
    return {
        "cheap": make_reward(
            title="Cheap pen", points_price=100, face_value_fen=500, category=notebooks
        ),
        "dear": make_reward(title="Dear set", points_price=2000, face_value_fen=10000, stock=3),
        "elsewhere": make_reward(
            merchant=other, title="Bag", points_price=300, face_value_fen=1500
        ),
    }


def titles(response):
    return sorted(row["reward"].title for row in response.context["rows"])


def test_the_catalog_filters_by_merchant_category_and_affordability(
    client, funded_member, catalog, merchant
):
    client.force_login(funded_member(points=350).user)
    assert titles(client.get("/rewards/")) == ["Bag", "Cheap pen", "Dear set"]
    assert titles(client.get("/rewards/?merchant=greenleaf-t")) == ["Bag"]
    assert titles(client.get("/rewards/?category=notebooks")) == ["Cheap pen"]
    assert titles(client.get("/rewards/?affordable=on")) == ["Bag", "Cheap pen"]
    assert 'data-testid="stock"' in client.get("/rewards/").content.decode()


@pytest.mark.parametrize("query", ["merchant=nope", "category=%FF", "affordable=maybe"])
def test_unknown_filter_values_show_the_whole_catalog_with_no_error(
    client, funded_member, catalog, query
):
    client.force_login(funded_member().user)
    response = client.get(f"/rewards/?{query}")
    assert response.status_code == 200


def test_the_catalog_costs_the_same_queries_for_many_rewards(
    client, funded_member, make_reward, django_assert_max_num_queries
):
    for n in range(30):
        make_reward(title=f"R{n}")
    client.force_login(funded_member().user)
    with django_assert_max_num_queries(14):
        assert client.get("/rewards/").status_code == 200


def test_the_dashboard_shows_the_next_reward_within_reach(client, funded_member, catalog):
    client.force_login(funded_member(points=350).user)
    body = client.get("/").content.decode()
    assert 'data-testid="savings"' in body
    assert "Dear set" in body.split('data-testid="next-reward"')[1][:400]


def next_reward(client):
    """(title, shortfall) of the dashboard's next reward, or None."""
    (rewards,) = [context for _, context in client.get("/").context["sections"]]
    projection = rewards["next"]
    return projection and (projection.reward.title, projection.shortfall)


def test_the_dashboard_sees_catalog_changes_at_once(client, funded_member, make_reward, merchant):
    from django.utils import timezone

    from redemption.models import PriceSchedule
    from redemption.services.rewards import reward_set_active

    # Given a member 150 points short of a reward, the dashboard having read the catalog
    client.force_login(funded_member(points=350).user)
    dear = make_reward(title="Dear set", points_price=500)
    assert next_reward(client) == ("Dear set", 150)

    # When its regular price drops to 400 points, the next visit shows it: 50 short
    dear.points_price = 400
    dear.save()
    assert next_reward(client) == ("Dear set", 50)

    # When a one-day schedule discounts it by 20% (320 today), it is affordable today
    today = timezone.localdate()
    winter = PriceSchedule.objects.create(
        merchant=merchant, name="寒假", percent_off=20, starts_on=today, ends_on=today
    )
    winter.rewards.add(dear)
    assert next_reward(client) is None
    assert affordable(client) == 1

    # When it is hidden (an update(), no signal), it is gone from the next visit
    reward_set_active(reward=dear, active=False)
    assert next_reward(client) is None and affordable(client) == 0


def affordable(client):
    (rewards,) = [context for _, context in client.get("/").context["sections"]]
    return rewards["affordable"]


def test_the_dashboard_honours_reward_dates_without_rereading_the_catalog(make_reward):
    from datetime import timedelta

    from django.utils import timezone

    from redemption.offer import dashboard_offer

    make_reward(title="Ending", points_price=500, active_until=timezone.now() + timedelta(hours=1))
    offer = dashboard_offer()
    assert [r.title for r in offer.available(timezone.now())] == ["Ending"]
    assert offer.available(timezone.now() + timedelta(hours=2)) == []


def test_another_processs_change_is_seen_through_the_shared_stamp(make_reward):
    from django.core.cache import cache

    from redemption import offer

    make_reward(title="Kept")
    first = offer.dashboard_offer()
    assert offer.dashboard_offer() is first  # kept while nothing changes

    cache.set(offer.OFFER_STAMP_KEY, "changed elsewhere")  # what another process's edit does

    assert offer.dashboard_offer() is not first
