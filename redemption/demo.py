"""The demo catalog: chenguang-demo's rewards, a 开学季 (back-to-school) discount and an
exchange day (积分兑换日), with pickup stores and instructions for goods and services.

Idempotent: rewards and schedules are looked up before they are created, and the 开学季
schedule is moved to cover "now" whenever the demo is seeded again (as the merchants' demo
keeps its 开学季 campaign running), so `demo` always sees the notebook set at 400 points.
"""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from merchants.models import Category, Store
from redemption.models import PriceSchedule, Reward
from redemption.services.rewards import reward_create

# (merchant, category slug, title, kind, points, cash fen, face fen, stock, limit, validity)
DEMO_REWARDS = [
    (
        "chenguang-demo",
        "notebooks",
        "笔记本套装",
        Reward.Kind.GOODS,
        500,
        0,
        2500,
        50,
        5,
        None,
        "晨光 A5 笔记本 5 本装，方格、横线各半。",
    ),
    (
        "chenguang-demo",
        "pens",
        "高级钢笔",
        Reward.Kind.GOODS,
        1000,
        0,
        5000,
        20,
        2,
        None,
        "金属笔身钢笔，附送墨囊一盒。",
    ),
    (
        "chenguang-demo",
        None,
        "定制 Logo 印刷服务",
        Reward.Kind.SERVICE,
        2000,
        10000,
        30000,
        None,
        1,
        None,
        "为班级或社团定制印有 Logo 的笔记本封面，积分 + 现金 ¥100，到店支付现金。",
    ),
    (
        "greenleaf-demo",
        None,
        "绿叶生活 ¥10 代金券",
        Reward.Kind.VOUCHER,
        200,
        0,
        1000,
        None,
        None,
        30,
        "全场通用，自兑换起 30 天内有效，任意时段可用。",
    ),
]

PICKUP_INSTRUCTIONS = {
    "笔记本套装": "到收银台出示取货码即可领取；店员备好后会通知您。",
    "高级钢笔": "到收银台出示取货码即可领取。",
    "定制 Logo 印刷服务": "请先带 Logo 图片到店确认样式，现金 ¥100 到店支付，约 3 个工作日完成。",
}
LEGACY_WINTER_BREAK = "寒假特惠"
EXCHANGE_DAY = "积分兑换日"


def seed_demo(context: dict) -> None:
    merchants = context["merchants"]
    today = timezone.localdate(context["now"])
    rewards = {}
    for (
        slug,
        category_slug,
        title,
        kind,
        points,
        cash,
        face,
        stock,
        limit,
        validity,
        description,
    ) in DEMO_REWARDS:
        merchant = merchants[slug]
        reward = Reward.objects.filter(merchant=merchant, title=title).first()
        if reward is None:
            category = (
                Category.objects.get(merchant=merchant, slug=category_slug)
                if category_slug
                else None
            )
            reward = reward_create(
                actor="seed_demo",
                merchant=merchant,
                category=category,
                title=title,
                kind=kind,
                points_price=points,
                cash_price_fen=cash,
                face_value_fen=face,
                stock=stock,
                per_member_limit=limit,
                validity_days=validity,
                description=description,
            )
        rewards[title] = reward
        if kind != Reward.Kind.VOUCHER and reward.pickup_store_id is None:
            Reward.objects.filter(pk=reward.pk).update(
                pickup_store=Store.objects.filter(merchant=merchant, code="main").first(),
                pickup_instructions=PICKUP_INSTRUCTIONS.get(title, ""),
            )
    chenguang = merchants["chenguang-demo"]
    # The notebook set costs 400 during 开学季 (back to school); older demos called it 寒假特惠.
    season = (
        PriceSchedule.objects.filter(merchant=chenguang, kind=PriceSchedule.Kind.SEASONAL)
        .filter(
            Q(display_kind=PriceSchedule.DisplayKind.BACK_TO_SCHOOL) | Q(name=LEGACY_WINTER_BREAK)
        )
        .order_by("pk")
        .first()
    )
    if season is None:
        season = PriceSchedule.objects.create(
            merchant=chenguang,
            display_kind=PriceSchedule.DisplayKind.BACK_TO_SCHOOL,
            kind=PriceSchedule.Kind.SEASONAL,
            percent_off=20,
            starts_on=today - timedelta(days=7),
            ends_on=today + timedelta(days=30),
        )
    if (
        season.display_kind != PriceSchedule.DisplayKind.BACK_TO_SCHOOL
        or season.name
        or not season.active
        or not (season.starts_on <= today <= season.ends_on)
    ):
        # Keep the demo's season running (and named 开学季) whenever the demo is seeded again.
        PriceSchedule.objects.filter(pk=season.pk).update(
            display_kind=PriceSchedule.DisplayKind.BACK_TO_SCHOOL,
            name="",
            active=True,
            starts_on=today - timedelta(days=7),
            ends_on=today + timedelta(days=30),
        )
    season.rewards.add(rewards["笔记本套装"])
    PriceSchedule.objects.get_or_create(
        merchant=chenguang,
        name=EXCHANGE_DAY,
        defaults={
            "kind": PriceSchedule.Kind.EXCHANGE_DAY,
            "display_kind": PriceSchedule.DisplayKind.EXCHANGE_DAY,
            "percent_off": 10,
            "day_of_month": 18,
        },
    )
    context["rewards"] = rewards
