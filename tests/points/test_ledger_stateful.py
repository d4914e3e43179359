"""Random sequences of credit, debit, reversal and expiry across several members: after every
step the ledger's invariants hold and every balance matches a simple model."""

import itertools
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Q, Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)

from merchants.models import Merchant
from points.models import PointLot
from points.selectors import ledger_verify, spendable_balance
from points.services.accounts import issuance_account, member_create
from points.services.expiry import account_expire
from points.services.ledger import InsufficientPoints, Overdraft
from tests.points.helpers import earn, reverse, spend, standard

_run = itertools.count()


class LedgerMachine(RuleBasedStateMachine):
    credits = Bundle("credits")
    debits = Bundle("debits")

    @initialize(target=credits)
    def setup(self):
        run = next(_run)
        self.merchant = Merchant.objects.create(name=f"M{run}", slug=f"machine-{run}")
        self.issuer = issuance_account(self.merchant)
        users = get_user_model().objects
        self.members = [
            member_create(user=users.create_user(username=f"sm{run}-{i}", password="x"))
            for i in range(3)
        ]
        self.expected = {m.pk: 0 for m in self.members}
        opening = [earn(m, self.issuer, 300, expires_at=None) for m in self.members]
        for member in self.members:
            self.expected[member.pk] = 300
        return multiple(*opening)

    @rule(
        target=credits,
        who=st.integers(0, 2),
        points=st.integers(1, 500),
        days=st.one_of(st.none(), st.integers(-30, 60)),
    )
    def credit(self, who, points, days):
        member = self.members[who]
        expires_at = None if days is None else timezone.now() + timedelta(days=days)
        txn = earn(member, self.issuer, points, expires_at=expires_at)
        self.expected[member.pk] += points
        return txn

    @rule(target=debits, who=st.integers(0, 2), share=st.integers(1, 120))
    def debit(self, who, share):
        """Spend a share of what is spendable; over 100% must be refused."""
        member = self.members[who]
        available = spendable_balance(standard(member))
        points = max(1, available * share // 100)
        try:
            txn = spend(member, self.merchant, points)
        except InsufficientPoints:
            assert points > available
            return multiple()
        assert points <= available
        self.expected[member.pk] -= points
        return txn

    @rule(target=debits, who=st.integers(0, 2))
    def spend_everything(self, who):
        """Members do empty their accounts; a refund afterwards has to leave a debt."""
        member = self.members[who]
        available = spendable_balance(standard(member))
        if not available:
            return multiple()
        txn = spend(member, self.merchant, available)
        self.expected[member.pk] -= available
        return txn

    @rule(original=consumes(debits), share=st.integers(1, 100))
    def cancel_redemption(self, original, share):
        spent = -original.entries.get(account__member__isnull=False).points
        points = max(1, spent * share // 100)
        reverse(original, points=points)
        self.expected[original.member_id] += points

    @rule(original=consumes(credits), share=st.integers(1, 100), allow=st.booleans())
    def refund(self, original, share, allow):
        credited = original.entries.get(account__member__isnull=False).points
        points = max(1, credited * share // 100)
        member = original.member
        takeable = (
            PointLot.objects.filter(account=standard(member))
            .filter(
                Q(transaction=original)
                | Q(expires_at__isnull=True)
                | Q(expires_at__gt=timezone.now())
            )
            .aggregate(total=Sum("remaining"))["total"]
            or 0
        )
        overdraft = Overdraft.ALLOW if allow else Overdraft.REFUSE
        try:
            reverse(original, points=points, overdraft=overdraft)
        except InsufficientPoints:
            assert not allow and points > takeable
            return
        self.expected[member.pk] -= points

    @rule(who=st.integers(0, 2))
    def expire(self, who):
        account = standard(self.members[who])
        txn = account_expire(account=account)
        if txn is not None:
            self.expected[account.member_id] += txn.entries.get(account=account).points

    @invariant()
    def balances_match_the_model(self):
        if not hasattr(self, "members"):
            return
        for member in self.members:
            account = standard(member)
            assert account.balance == self.expected[member.pk]
            assert spendable_balance(account) >= 0

    @invariant()
    def ledger_invariants_hold(self):
        report = ledger_verify(reconcile=False)  # helper postings have no documents
        assert report.ok, report.problems


@pytest.mark.django_db
def test_ledger_invariants_hold_for_random_operation_sequences():
    machine = LedgerMachine.TestCase
    machine.settings = settings(
        max_examples=30,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine().runTest()
