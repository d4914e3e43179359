"""Every word translated: every member page and every merchant admin page rendered in
zh-hans shows no English (no untranslated message id, no known leak), and English pages are
really English. Pages come from tests/numbers/pages.py."""

import re

import pytest
from django.contrib import admin

from activities.models import Activity
from points.models import Community
from redemption.models import Reward
from tests.numbers.pages import BACK_OFFICE_PAGES, MEMBER_PAGES
from tests.numbers.text import english_leaks

pytestmark = pytest.mark.django_db


def demo_words():
    """Names typed into the demo data (shop, product and reward names) are data, not text
    of the interface: they are allowed in English."""
    from merchants.models import Campaign, Category, Merchant, Product, Store, Terminal
    from redemption.models import PriceSchedule

    names = []
    for model, field in (
        (Merchant, "name"),
        (Merchant, "slug"),
        (Store, "name"),
        (Store, "code"),
        (Terminal, "name"),
        (Product, "name"),
        (Product, "sku"),
        (Category, "name"),
        (Category, "slug"),
        (Campaign, "name"),
        (PriceSchedule, "name"),
        (Reward, "title"),
        (Reward, "description"),
    ):
        names += list(model.objects.values_list(field, flat=True))
    words = set()
    for name in names:
        words |= {word.lower() for word in re.findall(r"[A-Za-z]+", name or "")}
    return frozenset(words)


def _fill(path):
    reward = Reward.objects.order_by("pk").first()
    community = Community.objects.order_by("pk").first()
    activity = Activity.objects.order_by("pk").first()
    return path.format(
        reward=reward.pk if reward else 0,
        community=community.pk if community else 0,
        activity=activity.pk if activity else 0,
    )


def _get(client, path):
    response = client.get(_fill(path))
    if response.status_code == 404:
        pytest.skip(f"{path} is not on this branch yet")
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


@pytest.mark.parametrize(("path", "user"), MEMBER_PAGES + BACK_OFFICE_PAGES)
def test_member_and_back_office_pages_in_chinese_show_no_english(client, demo, path, user):
    if user:
        client.force_login(demo[user])
    client.cookies["django_language"] = "zh-hans"

    body = _get(client, path)

    assert english_leaks(body, extra_allowed=demo_words()) == []


def _admin_urls(request_user, client):
    """Every admin page the merchant user may open: the index, each model's list, add form,
    and the change and history pages of its first rows."""
    urls = ["/admin/"]
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = request_user
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_view_permission(request):
            continue
        opts = model._meta
        base = f"/admin/{opts.app_label}/{opts.model_name}/"
        urls.append(base)
        if model_admin.has_add_permission(request):
            urls.append(f"{base}add/")
        for pk in model_admin.get_queryset(request).values_list("pk", flat=True)[:2]:
            urls += [f"{base}{pk}/change/", f"{base}{pk}/history/"]
    return urls


def test_every_merchant_admin_page_in_chinese_shows_no_english(client, demo):
    merchant = demo["merchant"]
    client.force_login(merchant)
    client.cookies["django_language"] = "zh-hans"
    allowed = demo_words()
    problems = {}
    for url in _admin_urls(merchant, client):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        leaks = english_leaks(response.content.decode(), extra_allowed=allowed)
        if leaks:
            problems[url] = leaks
    assert problems == {}, "\n".join(f"{url}: {leaks}" for url, leaks in problems.items())


def test_the_admin_widget_catalog_translates_every_filter_widget_text(client, demo):
    import json
    from pathlib import Path

    import django

    client.force_login(demo["merchant"])
    client.cookies["django_language"] = "zh-hans"

    body = client.get("/admin/jsi18n/").content.decode()
    catalog = json.loads(re.search(r"const newcatalog = (\{.*?\});", body, re.S).group(1))

    # Every gettext() text of the filter_horizontal widget ("Choose 奖品 by selecting them…")
    widget = Path(django.__file__).parent / "contrib/admin/static/admin/js/SelectFilter2.js"
    texts = set(re.findall(r"gettext\((['\"])(.*?)(?<!\\)\1\)", widget.read_text()))
    texts = {text.replace('\\"', '"') for _, text in texts}
    assert texts and not [text for text in texts if text not in catalog], sorted(
        texts - set(catalog)
    )
    assert catalog["Available %s"] == "可用 %s"


def test_a_merchant_user_opens_their_own_merchants_pages_and_not_anothers(client, demo):
    from merchants.models import Merchant

    own = Merchant.objects.get(slug="chenguang-demo")
    other = Merchant.objects.get(slug="greenleaf-demo")
    client.force_login(demo["merchant"])

    for suffix in ("change/", "history/"):
        assert client.get(f"/admin/merchants/merchant/{own.pk}/{suffix}").status_code == 200
        assert client.get(f"/admin/merchants/merchant/{other.pk}/{suffix}").status_code == 404
    assert client.get(f"/admin/merchants/merchant/{own.pk}/delete/").status_code == 403
    assert client.get(f"/admin/merchants/merchant/{other.pk}/delete/").status_code == 404
