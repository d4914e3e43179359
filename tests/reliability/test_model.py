"""The whole system against a model (issue 11, part 1).

Random interleavings of purchases, partial refunds, redemptions, member and merchant
cancellations, adjustments, expiry runs and sealing, across three members and two merchants,
all through the services. After every step: each member's balance and each reward's stock
equal what a simple in-memory model expects, the open lots of every account hold exactly
max(balance, 0), and `ledger_verify` (zero-sum, balances, lots, seal chain) is clean.
"""

import itertools
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db.models import Sum
from django.utils import timezone
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from points.models import Account, LedgerTransaction, PointLot, Purchase
from points.rules import share_of
from points.selectors import ledger_verify, spendable_balance
from points.services.accounts import adjustment_account, member_user_create
from points.services.expiry import points_expire_due
from points.services.ledger import InsufficientPoints, Posting, ledger_post
from points.services.purchases import (
    LineRequest,
    RefundLineRequest,
    purchase_record,
    purchase_refund,
)
from points.services.sealing import ledger_seal
from redemption.models import Redemption, Reward
from redemption.services.errors import (
    InsufficientPoints as RedeemInsufficient,
)
from redemption.services.errors import (
    NegativeBalance,
    NotCancellable,
    OutOfStock,
)
from redemption.services.redemptions import (
    redemption_cancel_by_member,
    redemption_cancel_by_merchant,
    reward_redeem,
)
from redemption.services.rewards import reward_create
from tests.points.conftest import make_shop
from tests.reliability.conftest import EXAMPLES, STEPS

_run = itertools.count()
STEP_COUNTS = {"examples": 0, "steps": 0}


def standard(member):
    return Account.objects.get(member=member, kind=Account.Kind.STANDARD)


class WholeSystem(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        run = next(_run)
        STEP_COUNTS["examples"] += 1
        self.shops = [make_shop(f"model-{run}-{n}", f"jf_model_key_{run}_{n}") for n in range(2)]
        self.merchants = [t.store.merchant for t in self.shops]
        self.members = [
            member_user_create(username=f"model{run}-{i}", password="pw-model-12345")
            for i in range(3)
        ]
        self.rewards = [
            reward_create(
                merchant=merchant,
                title=f"Reward {run}-{n}",
                points_price=60,
                face_value_fen=600,
                stock=6,
            )
            for n, merchant in enumerate(self.merchants)
        ]
        self.balance = {m.pk: 0 for m in self.members}
        self.stock = {r.pk: 6 for r in self.rewards}
        self.bought = {m.pk: False for m in self.members}
        # purchase pk -> [points, quantity, refunded quantity, refunded points]
        self.purchases: dict[int, list[int]] = {}
        self.redemptions: dict[int, str] = {}  # pk -> "confirmed" | "cancelled"
        self.receipts = itertools.count(1)
        self.keys = itertools.count(1)
        self.soon = timezone.now() + timedelta(hours=1)

    # --- steps ------------------------------------------------------------------------------

    @rule(
        who=st.integers(0, 2),
        shop=st.integers(0, 1),
        qty=st.integers(1, 5),
        amount=st.integers(1, 60_000),
    )
    def purchase(self, who, shop, qty, amount):
        member, merchant = self.members[who], self.merchants[shop]
        purchase = purchase_record(
            merchant=merchant,
            member=member,
            receipt_no=f"R{next(self.receipts)}",
            occurred_at=timezone.now(),
            terminal=self.shops[shop],
            lines=[LineRequest(line_no=1, quantity=qty, amount_fen=amount, category="pens")],
        )
        assert purchase.points == amount // 100  # pens: ×1, 1 point per whole yuan
        self.balance[member.pk] += purchase.points
        if not self.bought[member.pk]:
            self.bought[member.pk] = True
            # 首单满 20 元: only a first purchase of at least the minimum earns the bonus.
            if amount >= django_settings.POINTS_FIRST_PURCHASE_MIN_FEN:
                self.balance[member.pk] += django_settings.POINTS_FIRST_PURCHASE_BONUS
                self.bonus_for = {**getattr(self, "bonus_for", {}), purchase.pk: amount}
        self.purchases[purchase.pk] = [purchase.points, qty, 0, 0]

    @precondition(lambda self: any(p[2] < p[1] for p in getattr(self, "purchases", {}).values()))
    @rule(pick=st.integers(0, 10_000), units=st.integers(1, 5))
    def partial_refund(self, pick, units):
        open_ones = sorted(pk for pk, p in self.purchases.items() if p[2] < p[1])
        pk = open_ones[pick % len(open_ones)]
        points, qty, refunded, _ = self.purchases[pk]
        units = min(units, qty - refunded)
        purchase = Purchase.objects.select_related("merchant", "member").get(pk=pk)
        refund = purchase_refund(
            merchant=purchase.merchant,
            receipt_no=purchase.receipt_no,
            refund_no=f"F{next(self.keys)}",
            lines=[RefundLineRequest(line_no=1, quantity=units)],
        )
        expected = share_of(points, qty, refunded, units)
        assert refund.points_due == expected
        self.balance[purchase.member_id] -= refund.points  # allow_negative: all of it
        self.purchases[pk][2] += units
        self.purchases[pk][3] += refund.points
        amount = getattr(self, "bonus_for", {}).get(pk)
        left = qty - self.purchases[pk][2]
        if (
            amount is not None
            and amount * left < django_settings.POINTS_FIRST_PURCHASE_MIN_FEN * qty
        ):
            # Refunded below the minimum: the bonus goes too (allow_negative: all of it).
            self.balance[purchase.member_id] -= django_settings.POINTS_FIRST_PURCHASE_BONUS
            del self.bonus_for[pk]
        if self.purchases[pk][2] == qty:
            assert self.purchases[pk][3] == points  # partial refunds add up to the earn

    @rule(who=st.integers(0, 2), which=st.integers(0, 1), qty=st.integers(1, 3))
    def redeem(self, who, which, qty):
        member, reward = self.members[who], self.rewards[which]
        total = 60 * qty
        balance = self.balance[member.pk]
        try:
            redemption = reward_redeem(
                member=member,
                reward=reward,
                quantity=qty,
                idempotency_key=f"model-{next(self.keys)}",
            )
        except OutOfStock:
            assert self.stock[reward.pk] < qty
            return
        except NegativeBalance:
            assert balance < 0
            return
        except RedeemInsufficient:
            assert balance < total
            return
        assert self.stock[reward.pk] >= qty and balance >= total
        self.balance[member.pk] -= total
        self.stock[reward.pk] -= qty
        self.redemptions[redemption.pk] = "confirmed"

    @precondition(lambda self: "confirmed" in getattr(self, "redemptions", {}).values())
    @rule(pick=st.integers(0, 10_000), by_merchant=st.booleans())
    def cancel(self, pick, by_merchant):
        confirmed = sorted(pk for pk, s in self.redemptions.items() if s == "confirmed")
        redemption = Redemption.objects.select_related("member", "merchant").get(
            pk=confirmed[pick % len(confirmed)]
        )
        try:
            if by_merchant:
                redemption_cancel_by_merchant(redemption=redemption, reason="cannot deliver")
            else:
                redemption_cancel_by_member(redemption=redemption, member=redemption.member)
        except NotCancellable:  # pragma: no cover - vouchers are never used here
            raise
        back = redemption.points_total
        if by_merchant:
            percent = redemption.merchant.cancel_compensation_percent
            back += max(redemption.points_total * percent // 100, 1) if percent > 0 else 0
        self.balance[redemption.member_id] += back
        self.stock[redemption.reward_id] += redemption.quantity
        self.redemptions[redemption.pk] = "cancelled"

    @rule(who=st.integers(0, 2), points=st.integers(-300, 300).filter(bool), soon=st.booleans())
    def adjust(self, who, points, soon):
        """Staff corrections: a credit (maybe expiring within the hour) or a debit."""
        member = self.members[who]
        account = standard(member)
        try:
            ledger_post(
                kind=LedgerTransaction.Kind.ADJUST,
                idempotency_key=f"adjust-{account.pk}-{next(self.keys)}",
                postings=[Posting(account, points), Posting(adjustment_account(), -points)],
                member=member,
                reason="model adjustment",
                actor="staff",
                **({"expires_at": self.soon} if soon and points > 0 else {}),
            )
        except InsufficientPoints:
            assert points < 0 and max(self.balance[member.pk], 0) < -points
            return
        assert points > 0 or max(self.balance[member.pk], 0) >= -points
        self.balance[member.pk] += points

    @rule()
    def expiry_run(self):
        """The daily job, two hours from now: every lot expiring 'soon' is due."""
        later = self.soon + timedelta(hours=1)
        due = {
            row["account__member"]: row["total"]
            for row in PointLot.objects.filter(
                account__member__in=self.members, remaining__gt=0, expires_at__lte=later
            )
            .values("account__member")
            .annotate(total=Sum("remaining"))
        }
        points_expire_due(now=later)
        for member_pk, points in due.items():
            self.balance[member_pk] -= points
        assert not PointLot.objects.filter(
            account__member__in=self.members, remaining__gt=0, expires_at__lte=later
        ).exists()

    @rule()
    def seal(self):
        ledger_seal()

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def balances_lots_and_stock_match_the_model(self):
        if not hasattr(self, "members"):
            return
        STEP_COUNTS["steps"] += 1
        for member in self.members:
            account = standard(member)
            assert account.balance == self.balance[member.pk]
            open_lots = (
                PointLot.objects.filter(account=account, remaining__gt=0).aggregate(
                    total=Sum("remaining")
                )["total"]
                or 0
            )
            assert open_lots == max(self.balance[member.pk], 0)
            assert spendable_balance(account) == max(self.balance[member.pk], 0)
        for reward in Reward.objects.filter(pk__in=self.stock):
            assert reward.stock == self.stock[reward.pk]

    @invariant()
    def ledger_verifies(self):
        report = ledger_verify(reconcile=False)  # its adjustments have no request
        assert report.ok, report.problems


@pytest.mark.django_db
def test_the_whole_system_matches_its_model_under_random_interleavings():
    WholeSystem.TestCase.settings = settings(
        settings.get_profile("reliability"), max_examples=EXAMPLES, stateful_step_count=STEPS
    )
    WholeSystem.TestCase().runTest()
    assert STEP_COUNTS["examples"] >= 1 and STEP_COUNTS["steps"] >= STEP_COUNTS["examples"]
    print(f"\nwhole-system model: {STEP_COUNTS['examples']} examples, {STEP_COUNTS['steps']} steps")
