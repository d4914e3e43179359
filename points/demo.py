"""Demo users, members, a school community and a few months of purchases."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from merchants.models import MerchantMembership
from points.models import Community, Member, Purchase
from points.services.accounts import member_create
from points.services.purchases import LineRequest, purchase_record

# (days ago, merchant slug, receipt, [(sku or category slug, quantity, amount_fen)])
DEMO_HISTORY = [
    (85, "chenguang-demo", "CG-0001", [("GREEN-NB-01", 2, 2560), ("pens", 4, 1400)]),
    (71, "greenleaf-demo", "GL-0001", [("BAG-REUSE-01", 3, 2970), ("household", 1, 5600)]),
    (60, "chenguang-demo", "CG-0002", [("PEN-GEL-05", 10, 3500)]),
    (44, "greenleaf-demo", "GL-0002", [("BAG-REUSE-01", 5, 4950), ("household", 2, 16000)]),
    (30, "chenguang-demo", "CG-0003", [("GREEN-NB-01", 3, 3840), ("notebooks", 1, 12800)]),
    (18, "greenleaf-demo", "GL-0003", [("BAG-REUSE-01", 2, 1980), ("household", 1, 6900)]),
    (9, "chenguang-demo", "CG-0004", [("GREEN-NB-01", 1, 1280), ("pens", 2, 2900)]),
    (2, "greenleaf-demo", "GL-0004", [("BAG-REUSE-01", 4, 3960), ("household", 1, 8100)]),
]

CLASSMATES = [("xiaoming", 3), ("xiaohong", 5)]


def seed_demo(context: dict) -> None:
    password = context["password"]
    merchants = context["merchants"]
    school, _ = Community.objects.get_or_create(
        name="晨光实验小学", defaults={"kind": Community.Kind.SCHOOL}
    )
    demo = _member("demo", password, member_no="M00000001", community=school)
    context["demo_member"] = demo
    # Created with their permissions by migration merchants/0003; get_or_create keeps the
    # demo working on a database that was flushed after migrating (tests).
    roles = {
        name: Group.objects.get_or_create(name=name)[0]
        for name in ("Merchant staff", "Platform staff")
    }
    for username, slug in (("merchant", "chenguang-demo"), ("merchant2", "greenleaf-demo")):
        user = _user(username, password, is_staff=True)
        MerchantMembership.objects.get_or_create(user=user, defaults={"merchant": merchants[slug]})
        user.groups.add(roles["Merchant staff"])
    _user("staff", password, is_staff=True).groups.add(roles["Platform staff"])
    _user("admin", password, is_staff=True, is_superuser=True)
    now = context["now"]
    for days_ago, slug, receipt, lines in DEMO_HISTORY:
        _purchase(demo, merchants[slug], receipt, lines, now - timedelta(days=days_ago))
    for index, (username, visits) in enumerate(CLASSMATES):
        classmate = _member(username, password, community=school)
        for visit in range(visits):
            slug, receipt, lines = DEMO_HISTORY[(visit * 3 + index) % len(DEMO_HISTORY)][1:]
            _purchase(
                classmate,
                merchants[slug],
                f"{username.upper()}-{visit}",
                lines,
                now - timedelta(days=10 + 17 * visit + index),
            )


def _user(username, password, **flags):
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user = user_model.objects.create_user(
            username=username, password=password, email=f"{username}@example.com", **flags
        )
    return user


def _member(username, password, **fields):
    user = _user(username, password)
    return Member.objects.filter(user=user).first() or member_create(user=user, **fields)


def _purchase(member, merchant, receipt, lines, when):
    purchase_record(
        merchant=merchant,
        member=member,
        receipt_no=receipt,
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
        source=Purchase.Source.DEMO,
        actor="seed_demo",
    )
