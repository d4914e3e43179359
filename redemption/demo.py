"""The demo catalog: chenguang-demo's rewards, a winter-break discount and an exchange day.

Idempotent: rewards and schedules are looked up by name before they are created, and the
winter-break schedule is moved to cover "now" whenever the demo is seeded again (as the
merchants' demo keeps its 开学季 campaign running), so `demo` always sees the notebook set at
400 points.
"""

from datetime import timedelta

from django.utils import timezone

from merchants.models import Category
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

WINTER_BREAK = "寒假特惠"
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
    chenguang = merchants["chenguang-demo"]
    winter, created = PriceSchedule.objects.get_or_create(
        merchant=chenguang,
        name=WINTER_BREAK,
        defaults={
            "kind": PriceSchedule.Kind.SEASONAL,
            "percent_off": 20,
            "starts_on": today - timedelta(days=7),
            "ends_on": today + timedelta(days=30),
        },
    )
    if not winter.active or not (winter.starts_on <= today <= winter.ends_on):
        # Keep the demo's winter break running whenever the demo is seeded again.
        PriceSchedule.objects.filter(pk=winter.pk).update(
            active=True, starts_on=today - timedelta(days=7), ends_on=today + timedelta(days=30)
        )
    winter.rewards.add(rewards["笔记本套装"])
    PriceSchedule.objects.get_or_create(
        merchant=chenguang,
        name=EXCHANGE_DAY,
        defaults={"kind": PriceSchedule.Kind.EXCHANGE_DAY, "percent_off": 10, "day_of_month": 18},
    )
    context["rewards"] = rewards
