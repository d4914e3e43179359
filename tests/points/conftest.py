from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from merchants.models import Campaign, Category, Merchant, Product, Store, Terminal

POS_KEY = "jf_test_key_merchant_a_0001"
OTHER_KEY = "jf_test_key_merchant_b_0001"


def make_shop(slug: str, key: str):
    merchant = Merchant.objects.create(name=f"Shop {slug}", slug=slug)
    store = Store.objects.create(merchant=merchant, name="Main", code="main")
    terminal = Terminal(store=store, name="Till 1")
    terminal.set_key(key)
    terminal.save()
    notebooks = Category.objects.create(merchant=merchant, name="Notebooks", slug="notebooks")
    Category.objects.create(merchant=merchant, name="Pens", slug="pens")
    Category.objects.create(merchant=merchant, name="Tea", slug="tea", multiplier=Decimal("1.5"))
    Product.objects.create(
        merchant=merchant,
        sku="GREEN-NB-01",
        name="Recycled notebook",
        category=notebooks,
        price_fen=1280,
        is_green=True,
        carbon_saved_g=300,
    )
    today = timezone.localdate()
    campaign = Campaign.objects.create(
        merchant=merchant,
        name="开学季",
        starts_on=today - timedelta(days=5),
        ends_on=today + timedelta(days=5),
        multiplier=Decimal("2"),
    )
    campaign.categories.add(notebooks)
    return terminal


@pytest.fixture
def shop(db):
    return make_shop("shop-a", POS_KEY)


@pytest.fixture
def other_shop(db):
    return make_shop("shop-b", OTHER_KEY)


@pytest.fixture
def pos(shop):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {POS_KEY}")
    return client


@pytest.fixture
def other_pos(other_shop):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {OTHER_KEY}")
    return client


# --- Identity (mobile proven by SMS code) -----------------------------------------------


@pytest.fixture
def till_member(db):
    """A customer enrolled at a till (mobile proven there): no password yet."""
    from points.services.members import member_enrol
    from tests.points.identity_fixtures import CARDED

    member, _created = member_enrol(mobile=CARDED, actor="terminal:test")
    return member


@pytest.fixture
def last_code(sms_outbox):
    from tests.points.helpers import code_in

    def read(mobile=None):
        texts = [m for m in sms_outbox if mobile is None or m.to == mobile]
        assert texts, "no text was sent"
        return code_in(texts[-1])

    return read
