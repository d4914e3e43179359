"""Demo users, members, a school community and a few months of ledger history."""

from datetime import timedelta

from django.contrib.auth import get_user_model

from points.models import Account, Community, LedgerTransaction, Member
from points.services.accounts import issuance_account, member_create, system_account
from points.services.ledger import Posting, ledger_post

# (days ago, merchant slug, points, green points, receipt)
DEMO_HISTORY = [
    (85, "chenguang-demo", 128, 6, "CG-0001"),
    (71, "greenleaf-demo", 56, 12, "GL-0001"),
    (60, "chenguang-demo", 35, 0, "CG-0002"),
    (44, "greenleaf-demo", 210, 25, "GL-0002"),
    (30, "chenguang-demo", 256, 9, "CG-0003"),
    (18, "greenleaf-demo", 88, 14, "GL-0003"),
    (9, "chenguang-demo", 42, 3, "CG-0004"),
    (2, "greenleaf-demo", 120, 18, "GL-0004"),
]

CLASSMATES = [("xiaoming", 3), ("xiaohong", 5)]


def seed_demo(context: dict) -> None:
    password = context["password"]
    merchants = context["merchants"]
    school, _ = Community.objects.get_or_create(name="晨光实验小学",
                                                defaults={"kind": Community.Kind.SCHOOL})
    demo = _member("demo", password, member_no="M00000001", community=school)
    context["demo_member"] = demo
    for username in ("merchant", "merchant2"):
        _user(username, password, is_staff=True)
    _user("staff", password, is_staff=True)
    _user("admin", password, is_staff=True, is_superuser=True)
    now = context["now"]
    slugs = list(merchants)
    for days_ago, slug, points, green, receipt in DEMO_HISTORY:
        _earn(demo, merchants[slug], points, green, receipt, now - timedelta(days=days_ago))
    for index, (username, visits) in enumerate(CLASSMATES):
        classmate = _member(username, password, community=school)
        for visit in range(visits):
            _earn(classmate, merchants[slugs[visit % 2]], 20 + 15 * visit, 4 + visit,
                  f"{username.upper()}-{visit}", now - timedelta(days=10 + 17 * visit + index))


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


def _earn(member, merchant, points, green, receipt, when):
    accounts = {a.kind: a for a in Account.objects.filter(member=member)}
    postings = [Posting(accounts[Account.Kind.STANDARD], points),
                Posting(issuance_account(merchant), -points)]
    if green:
        postings += [Posting(accounts[Account.Kind.GREEN], green),
                     Posting(system_account(Account.Kind.GREEN_ISSUANCE, merchant), -green)]
    ledger_post(
        kind=LedgerTransaction.Kind.EARN, idempotency_key=f"seed:{merchant.slug}:{receipt}",
        postings=postings, merchant=merchant, member=member, reference=receipt,
        reason="demo purchase", breakdown={"demo": True, "points": points, "green_points": green},
        created_at=when,
    )
