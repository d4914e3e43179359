"""Splitting a large adjustment cannot bypass the second person: the threshold holds for a
member's rolling 24 hours and for each requester's day; nobody approves their own request."""

from datetime import timedelta

import pytest
from django.utils import timezone

from points.models import AdjustmentRequest
from points.services.adjustments import (
    SelfApproval,
    adjustment_approve,
    adjustment_reject,
    adjustment_request,
)
from tests.admin.conftest import make_staff
from tests.points.helpers import standard

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(shopper, shop_a):
    return shopper


def ask(member, user, points=1000, **kwargs):
    return adjustment_request(
        member=member, points=points, reason="split", requested_by=user, **kwargs
    )


def test_five_adjustments_of_a_thousand_for_one_member_leave_four_pending(
    member, platform_user, settings, ledger_ok
):
    settings.ADJUSTMENT_APPROVAL_THRESHOLD = 1000
    before = standard(member).balance

    statuses = [ask(member, platform_user).status for _ in range(5)]

    assert statuses == ["applied", "pending", "pending", "pending", "pending"]
    assert standard(member).balance == before + 1000
    ledger_ok()


def test_two_requesters_splitting_for_one_member_wait_for_approval(
    member, platform_user, platform_user_2, settings
):
    settings.ADJUSTMENT_APPROVAL_THRESHOLD = 1000

    first = ask(member, platform_user, 600)
    second = ask(member, platform_user_2, 600)

    assert (first.status, second.status) == ("applied", "pending")


def test_a_member_s_window_is_24_rolling_hours(member, platform_user, platform_user_2, settings):
    settings.ADJUSTMENT_APPROVAL_THRESHOLD = 1000
    now = timezone.now()
    ask(member, platform_user, 1000, now=now - timedelta(hours=23))

    assert ask(member, platform_user_2, 1, now=now).status == "pending"
    assert ask(member, platform_user_2, 1, now=now + timedelta(hours=2)).status == "applied"


def test_deductions_count_towards_the_threshold_too(member, platform_user, settings):
    settings.ADJUSTMENT_APPROVAL_THRESHOLD = 100
    ask(member, platform_user, -60)

    assert ask(member, platform_user, 60).status == "pending"


def test_one_requester_splitting_across_members_waits_for_approval(
    shop_a, platform_user, make_member, settings
):
    settings.ADJUSTMENT_APPROVAL_THRESHOLD = 1000
    members = [make_member() for _ in range(3)]

    statuses = [ask(m, platform_user, 500).status for m in members]

    assert statuses == ["applied", "applied", "pending"]


def test_a_rejected_request_does_not_count(member, platform_user, platform_user_2, settings):
    settings.ADJUSTMENT_APPROVAL_THRESHOLD = 1000
    pending = ask(member, platform_user, 1500)
    adjustment_reject(adjustment=pending, rejected_by=platform_user_2)

    assert ask(member, platform_user, 1000).status == "applied"


def test_split_requests_are_approved_by_a_second_person_only(
    member, platform_user, platform_user_2, settings, ledger_ok
):
    settings.ADJUSTMENT_APPROVAL_THRESHOLD = 1000
    ask(member, platform_user)
    pending = ask(member, platform_user)

    with pytest.raises(SelfApproval):
        adjustment_approve(adjustment=pending, approved_by=platform_user)
    assert AdjustmentRequest.objects.get(pk=pending.pk).status == "pending"

    assert adjustment_approve(adjustment=pending, approved_by=platform_user_2).status == "applied"
    ledger_ok()


def test_a_superuser_cannot_approve_their_own_request_either(member, roles, settings):
    settings.ADJUSTMENT_APPROVAL_THRESHOLD = 1000
    boss = make_staff("boss", is_superuser=True)
    pending = ask(member, boss, 5000)

    with pytest.raises(SelfApproval):
        adjustment_approve(adjustment=pending, approved_by=boss)
