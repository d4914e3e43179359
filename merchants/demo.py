"""The demo merchants, their stores, till, categories, products and campaign."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from merchants.models import (
    Campaign,
    Category,
    Merchant,
    Product,
    Store,
    Terminal,
    TerminalKeyEvent,
    hash_api_key,
)

DEMO_POS_KEY = "jf_demo_pos_key_0001"  # demo data only: real keys are random, shown once

DEMO_TERMINAL_NAME = "收银台 1"

MERCHANTS = [("chenguang-demo", "晨光文具 Demo"), ("greenleaf-demo", "绿叶生活 Demo")]


def seed_demo(context: dict) -> None:
    merchants = {
        slug: Merchant.objects.get_or_create(slug=slug, defaults={"name": name})[0]
        for slug, name in MERCHANTS
    }
    context["merchants"] = merchants
    chenguang, greenleaf = merchants["chenguang-demo"], merchants["greenleaf-demo"]
    store, _ = Store.objects.get_or_create(
        merchant=chenguang, code="main", defaults={"name": "晨光文具 旗舰店"}
    )
    Store.objects.get_or_create(merchant=greenleaf, code="main", defaults={"name": "绿叶生活 本店"})
    # Where members can spend and collect (/stores/): filled in only where still empty.
    for merchant, address, hours in (
        (chenguang, "上海市徐汇区漕溪北路 88 号 1 楼", "每天 09:00-21:00"),
        (greenleaf, "上海市徐汇区天钥桥路 123 号", "每天 08:00-22:00"),
    ):
        Store.objects.filter(merchant=merchant, code="main", address="").update(address=address)
        Store.objects.filter(merchant=merchant, code="main", opening_hours="").update(
            opening_hours=hours
        )
    terminal = Terminal.objects.filter(key_hash=hash_api_key(DEMO_POS_KEY)).first()
    demo_key_in_use = terminal is not None
    if terminal is None:
        terminal = Terminal.objects.filter(store=store, name=DEMO_TERMINAL_NAME).first()
    if terminal is None:  # first seeding only: a rotated or revoked demo key stays gone
        terminal = Terminal(store=store, name=DEMO_TERMINAL_NAME)
        terminal.set_key(DEMO_POS_KEY)
        terminal.save()
        TerminalKeyEvent.objects.create(
            terminal=terminal,
            kind=TerminalKeyEvent.Kind.CREATED,
            actor="seed_demo",
            key_hint=terminal.key_hint,
        )
        demo_key_in_use = True
    context["terminal"] = terminal
    context["demo_key_in_use"] = demo_key_in_use
    notebooks, _ = Category.objects.get_or_create(
        merchant=chenguang, slug="notebooks", defaults={"name": "笔记本"}
    )
    pens, _ = Category.objects.get_or_create(
        merchant=chenguang, slug="pens", defaults={"name": "笔"}
    )
    household, _ = Category.objects.get_or_create(
        merchant=greenleaf, slug="household", defaults={"name": "家居日用"}
    )
    Product.objects.get_or_create(
        merchant=chenguang,
        sku="GREEN-NB-01",
        defaults={
            "name": "再生纸笔记本",
            "category": notebooks,
            "price_fen": 1280,
            "is_green": True,
            "carbon_saved_g": 300,
        },
    )
    Product.objects.get_or_create(
        merchant=chenguang,
        sku="PEN-GEL-05",
        defaults={"name": "中性笔 0.5mm", "category": pens, "price_fen": 350},
    )
    Product.objects.get_or_create(
        merchant=greenleaf,
        sku="BAG-REUSE-01",
        defaults={
            "name": "可重复使用购物袋",
            "category": household,
            "price_fen": 990,
            "is_green": True,
            "carbon_saved_g": 500,
        },
    )
    today = timezone.localdate(context["now"])
    campaign, created = Campaign.objects.get_or_create(
        merchant=chenguang,
        name="开学季",
        defaults={
            "starts_on": today - timedelta(days=30),
            "ends_on": today + timedelta(days=60),
            "multiplier": Decimal("2.00"),
        },
    )
    if not campaign.active or not (campaign.starts_on <= today <= campaign.ends_on):
        # Keep the demo campaign running whenever the demo is started again.
        # Saved (not `update()`): the change is recorded as a new version of the rule.
        campaign.active = True
        campaign.starts_on = today - timedelta(days=30)
        campaign.ends_on = today + timedelta(days=60)
        campaign.save(update_fields=["active", "starts_on", "ends_on"])
    campaign.categories.add(notebooks)
    if demo_key_in_use:
        context["messages"].append(
            f"Demo POS terminal key (merchant chenguang-demo): {DEMO_POS_KEY}"
        )
    else:
        context["messages"].append(
            "Demo POS terminal key was rotated or revoked: not re-created (issue a new key "
            "in admin)."
        )
