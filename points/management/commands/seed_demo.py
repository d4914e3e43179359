"""Demo data for `make run`: the accounts of DESIGN.md and a few months of history.

Idempotent: every row is looked up before it is created, and every ledger posting carries a
fixed idempotency key, so running it again changes nothing.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from merchants.models import Merchant
from points.models import Account, Community, LedgerTransaction, Member
from points.services.accounts import issuance_account, member_create
from points.services.ledger import Posting, ledger_post

DEMO_PASSWORD = "demo12345"

MERCHANTS = [
    ("chenguang-demo", "晨光文具 Demo"),
    ("greenleaf-demo", "绿叶生活 Demo"),
]

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


class Command(BaseCommand):
    help = "Create the demo accounts, merchants, a school community and some history (idempotent)."

    def handle(self, *args, **options):
        with transaction.atomic():
            merchants = {slug: self._merchant(slug, name) for slug, name in MERCHANTS}
            school, _ = Community.objects.get_or_create(
                name="晨光实验小学", defaults={"kind": Community.Kind.SCHOOL}
            )
            demo = self._member("demo", member_no="M00000001", community=school)
            self._user("merchant")
            self._user("merchant2")
            self._user("staff", is_staff=True)
            self._user("admin", is_staff=True, is_superuser=True)
            now = timezone.now()
            for days_ago, slug, points, green, receipt in DEMO_HISTORY:
                self._earn(demo, merchants[slug], points, green, receipt, now - timedelta(days_ago))
            for index, (username, visits) in enumerate(CLASSMATES):
                classmate = self._member(username, community=school)
                for visit in range(visits):
                    self._earn(
                        classmate,
                        merchants[MERCHANTS[visit % 2][0]],
                        20 + 15 * visit,
                        4 + visit,
                        f"{username.upper()}-{visit}",
                        now - timedelta(days=10 + 17 * visit + index),
                    )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready. Log in as demo / {DEMO_PASSWORD} (member M00000001); "
                f"staff: staff, admin; merchants: merchant, merchant2."
            )
        )

    def _merchant(self, slug, name):
        merchant, _ = Merchant.objects.get_or_create(slug=slug, defaults={"name": name})
        return merchant

    def _user(self, username, **flags):
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model.objects.create_user(
                username=username,
                password=DEMO_PASSWORD,
                email=f"{username}@example.com",
                **flags,
            )
        return user

    def _member(self, username, **fields):
        user = self._user(username)
        member = Member.objects.filter(user=user).first()
        return member or member_create(user=user, **fields)

    def _earn(self, member, merchant, points, green, receipt, when):
        accounts = {a.kind: a for a in Account.objects.filter(member=member)}
        issuer = issuance_account(merchant)
        ledger_post(
            kind=LedgerTransaction.Kind.EARN,
            idempotency_key=f"seed:{merchant.slug}:{receipt}",
            postings=[Posting(accounts[Account.Kind.STANDARD], points), Posting(issuer, -points)],
            merchant=merchant,
            member=member,
            reference=receipt,
            reason="demo purchase",
            breakdown={"demo": True, "points": points},
            created_at=when,
        )
        if green:
            ledger_post(
                kind=LedgerTransaction.Kind.GREEN_EARN,
                idempotency_key=f"seed:{merchant.slug}:{receipt}:green",
                postings=[Posting(accounts[Account.Kind.GREEN], green), Posting(issuer, -green)],
                merchant=merchant,
                member=member,
                reference=receipt,
                reason="demo green purchase",
                breakdown={"demo": True, "green_points": green},
                created_at=when,
            )
