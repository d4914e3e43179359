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
