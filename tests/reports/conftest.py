"""Shops, members and back-office users for the report tests. Purchases go through
`purchase_record`, so every figure rests on real ledger rows."""

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from merchants.models import Category, MerchantMembership, Product
from points.models import Community
from points.services.purchases import (
    LineRequest,
    RefundLineRequest,
    purchase_record,
    purchase_refund,
)
from tests.points.conftest import OTHER_KEY, POS_KEY, make_shop

SHANGHAI = ZoneInfo("Asia/Shanghai")
_receipts = itertools.count(1)


def at(year, month, day=15, hour=12):
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


def buy(member, merchant, lines, when, receipt=None):
    """lines: [(sku or category slug, quantity, amount_fen)]"""
    return purchase_record(
        merchant=merchant,
        member=member,
        receipt_no=receipt or f"R-{next(_receipts)}",
        occurred_at=when,
        lines=[
            LineRequest(
                line_no=number,
                quantity=quantity,
                amount_fen=amount,
                sku=code if code.isupper() else None,
                category=None if code.isupper() else code,
            )
            for number, (code, quantity, amount) in enumerate(lines, start=1)
        ],
    )


def refund(purchase, line_no, quantity):
    return purchase_refund(
        merchant=purchase.merchant,
        receipt_no=purchase.receipt_no,
        refund_no=f"RF-{next(_receipts)}",
        lines=[RefundLineRequest(line_no=line_no, quantity=quantity)],
    )


def add_green_tea(merchant):
    """A second green product, in another category (tea, 100 g CO₂e per unit)."""
    return Product.objects.create(
        merchant=merchant,
        sku="GREEN-TEA-01",
        name="散装茶叶",
        category=Category.objects.get(merchant=merchant, slug="tea"),
        price_fen=2000,
        is_green=True,
        carbon_saved_g=100,
    )


@pytest.fixture
def shop_a(db):
    merchant = make_shop("shop-a", POS_KEY).merchant
    add_green_tea(merchant)
    return merchant


@pytest.fixture
def shop_b(db):
    return make_shop("shop-b", OTHER_KEY).merchant


@pytest.fixture
def school(db):
    return Community.objects.create(name="晨光实验小学", kind=Community.Kind.SCHOOL)


def _user(username, *, staff=False, group=None, superuser=False):
    user = get_user_model().objects.create_user(
        username=username, password="pw-12345-long", is_staff=staff, is_superuser=superuser
    )
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def platform_staff(db):
    return _user("staff-user", staff=True, group="Platform staff")


@pytest.fixture
def merchant_user(shop_a):
    user = _user("merchant-a", staff=True, group="Merchant staff")
    MerchantMembership.objects.create(user=user, merchant=shop_a)
    return user


@pytest.fixture
def staff_client(client, platform_staff):
    client.force_login(platform_staff)
    return client
