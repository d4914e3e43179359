"""/stores/ (哪里可以用积分): active merchants with their active stores (address, hours),
categories and rewards on offer; linked from the dashboard and the catalog."""

import re

import pytest

from merchants.models import Category, Merchant, Store

pytestmark = pytest.mark.django_db


@pytest.fixture
def directory(merchant, make_reward):
    Store.objects.create(
        merchant=merchant,
        name="旗舰店",
        code="main",
        address="上海市徐汇区漕溪北路 88 号",
        opening_hours="每天 09:00-21:00",
    )
    Store.objects.create(merchant=merchant, name="已关闭的店", code="old", active=False)
    Category.objects.create(merchant=merchant, name="笔记本", slug="notebooks")
    make_reward(title="笔记本套装", points_price=500)
    make_reward(title="下架的奖品", points_price=500, active=False)
    closed = Merchant.objects.create(name="已退出的商户", slug="gone", active=False)
    Store.objects.create(merchant=closed, name="旧店", code="main")
    return merchant


def test_the_page_lists_merchants_stores_hours_categories_and_rewards(client, directory):
    page = client.get("/stores/").content.decode()

    for expected in (
        "哪里可以用积分",
        "晨光文具 Test",
        "旗舰店",
        "上海市徐汇区漕溪北路 88 号",
        "每天 09:00-21:00",
        "笔记本",
        "笔记本套装",
    ):
        assert expected in page
    for hidden in ("已关闭的店", "下架的奖品", "已退出的商户"):
        assert hidden not in page
    assert len(re.findall(r"<h1[ >]", page)) == 1


def test_the_page_is_open_to_visitors_and_members_alike(client, directory, make_member):
    assert client.get("/stores/").status_code == 200
    client.force_login(make_member().user)
    assert client.get("/stores/").status_code == 200


@pytest.mark.parametrize(
    "query", ["merchant=9999", "page=-1", "x=" + "9" * 5000, "month=9999-12", "q=%FF%FE"]
)
def test_unknown_parameters_are_ignored_never_a_500(client, directory, query):
    assert client.get(f"/stores/?{query}").status_code == 200


def test_the_page_costs_the_same_queries_for_many_merchants(
    client, directory, django_assert_max_num_queries
):
    for n in range(20):
        other = Merchant.objects.create(name=f"商户 {n}", slug=f"m-{n}")
        Store.objects.create(merchant=other, name="店", code="main", address="地址")
        Category.objects.create(merchant=other, name="类", slug="c")
    with django_assert_max_num_queries(10):
        assert client.get("/stores/").status_code == 200


def test_the_dashboard_and_the_catalog_link_to_it(client, make_member):
    client.force_login(make_member().user)
    for url in ("/", "/rewards/"):
        assert 'href="/stores/"' in client.get(url).content.decode()
