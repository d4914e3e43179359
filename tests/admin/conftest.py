"""Two merchants, A and B, each with a full set of back-office rows, and users in the roles.

Names are distinct per merchant ("A …" / "B …") so a page that leaked one of B's rows would
show it; tests assert on row ids and on the page text.
"""

import importlib
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from merchants.admin_scoping import MERCHANT_STAFF, PLATFORM_STAFF
from merchants.models import (
    Campaign,
    Category,
    Merchant,
    MerchantMembership,
    Product,
    Store,
    Terminal,
)
from points.services.accounts import issuance_account
from points.services.purchases import LineRequest, purchase_record
from redemption.models import PriceSchedule, Reward
from redemption.services.redemptions import reward_redeem
from redemption.services.rewards import reward_create
from tests.points.helpers import earn

roles_migration = importlib.import_module("merchants.migrations.0003_roles")
catalog_migration = importlib.import_module("redemption.migrations.0002_back_office_roles")
identity_migration = importlib.import_module("points.migrations.0009_identity_staff_view_events")


def ensure_roles():
    """The groups as the migrations leave them (a flushed test database loses them)."""
    merchant_staff, _ = Group.objects.get_or_create(name=MERCHANT_STAFF)
    platform_staff, _ = Group.objects.get_or_create(name=PLATFORM_STAFF)
    roles_migration.grant(apps, merchant_staff, roles_migration.MERCHANT_PERMISSIONS)
    roles_migration.grant(apps, platform_staff, roles_migration.PLATFORM_PERMISSIONS)
    catalog = list(catalog_migration._permissions(apps, catalog_migration.CATALOG_PERMISSIONS))
    merchant_staff.permissions.add(*catalog)
    platform_staff.permissions.add(*catalog)
    platform_staff.permissions.add(
        *catalog_migration._permissions(apps, catalog_migration.PLATFORM_ONLY_PERMISSIONS)
    )
    roles_migration.grant(apps, platform_staff, identity_migration.PLATFORM_PERMISSIONS)
    return merchant_staff, platform_staff


@dataclass
class Shop:
    merchant: Merchant
    store: Store
    terminal: Terminal
    category: Category
    product: Product
    campaign: Campaign
    reward: Reward
    voucher_reward: Reward
    schedule: PriceSchedule
    redemption: object = None
    voucher_redemption: object = None
    purchase: object = None
    extra: dict = field(default_factory=dict)

    @property
    def voucher(self):
        return self.voucher_redemption.vouchers.get()


def build_shop(letter: str, member) -> Shop:
    merchant = Merchant.objects.create(name=f"{letter} Merchant", slug=f"merchant-{letter}")
    store = Store.objects.create(merchant=merchant, name=f"{letter} Store", code="main")
    terminal = Terminal(store=store, name=f"{letter} Till")
    terminal.set_key(f"jf_test_admin_key_{letter}_0001")
    terminal.save()
    category = Category.objects.create(
        merchant=merchant, name=f"{letter} Category", slug=f"cat-{letter.lower()}"
    )
    product = Product.objects.create(
        merchant=merchant,
        sku=f"{letter}-SKU-1",
        name=f"{letter} Product",
        category=category,
        price_fen=1000,
    )
    today = timezone.localdate()
    campaign = Campaign.objects.create(
        merchant=merchant,
        name=f"{letter} Campaign",
        starts_on=today - timedelta(days=3),
        ends_on=today + timedelta(days=3),
        multiplier=Decimal("2"),
    )
    campaign.categories.add(category)
    reward = reward_create(
        merchant=merchant,
        category=category,
        title=f"{letter} Reward",
        points_price=500,
        face_value_fen=2500,
        stock=10,
    )
    voucher_reward = reward_create(
        merchant=merchant,
        title=f"{letter} Voucher reward",
        kind=Reward.Kind.VOUCHER,
        points_price=100,
        face_value_fen=1000,
        validity_days=30,
    )
    schedule = PriceSchedule.objects.create(
        merchant=merchant,
        name=f"{letter} Winter sale",
        percent_off=20,
        starts_on=today - timedelta(days=1),
        ends_on=today + timedelta(days=10),
    )
    schedule.rewards.add(reward)
    shop = Shop(
        merchant=merchant,
        store=store,
        terminal=terminal,
        category=category,
        product=product,
        campaign=campaign,
        reward=reward,
        voucher_reward=voucher_reward,
        schedule=schedule,
    )
    earn(member, issuance_account(merchant), 2000)
    shop.purchase = purchase_record(
        merchant=merchant,
        member=member,
        receipt_no=f"{letter}-R1",
        occurred_at=timezone.now(),
        lines=[LineRequest(line_no=1, quantity=1, amount_fen=1000, sku=product.sku)],
        store=store,
        terminal=terminal,
    )
    shop.redemption = reward_redeem(
        member=member, reward=reward, quantity=1, idempotency_key=f"{letter}-goods"
    )
    shop.voucher_redemption = reward_redeem(
        member=member, reward=voucher_reward, quantity=1, idempotency_key=f"{letter}-voucher"
    )
    return shop


@pytest.fixture
def roles(db):
    return ensure_roles()


@pytest.fixture
def shopper(make_member):
    return make_member(username="shopper", email="shopper@example.com", mobile="13800138000")


@pytest.fixture
def shop_a(db, shopper):
    return build_shop("A", shopper)


@pytest.fixture
def shop_b(db, shopper):
    return build_shop("B", shopper)


def make_staff(username, *, group=None, merchant=None, **flags):
    user = get_user_model().objects.create_user(
        username=username, password="pw-12345-long", is_staff=True, **flags
    )
    if group is not None:
        user.groups.add(group)
    if merchant is not None:
        MerchantMembership.objects.create(user=user, merchant=merchant)
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def merchant_a_user(roles, shop_a):
    return make_staff("merchant-a", group=roles[0], merchant=shop_a.merchant)


@pytest.fixture
def merchant_b_user(roles, shop_b):
    return make_staff("merchant-b", group=roles[0], merchant=shop_b.merchant)


@pytest.fixture
def platform_user(roles):
    return make_staff("platform-1", group=roles[1])


@pytest.fixture
def platform_user_2(roles):
    return make_staff("platform-2", group=roles[1])


@pytest.fixture
def as_merchant_a(merchant_a_user, shop_b):
    return client_for(merchant_a_user)


@pytest.fixture
def as_platform(platform_user, shop_a, shop_b):
    return client_for(platform_user)


def messages_of(response):
    return [str(m) for m in response.context["messages"]]
