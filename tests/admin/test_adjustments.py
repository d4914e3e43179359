"""Manual adjustments: through the ledger, a mandatory reason, and a two-person rule above
ADJUSTMENT_APPROVAL_THRESHOLD points."""

import pytest

from merchants.models import MerchantMembership
from points.models import AdjustmentRequest, LedgerEntry
from points.services.accounts import adjustment_account
from points.services.adjustments import (
    DeductionTooLarge,
    NotAllowed,
    NotPending,
    ReasonRequired,
    SelfApproval,
    adjustment_approve,
    adjustment_reject,
    adjustment_request,
)
from tests.admin.conftest import client_for, messages_of
from tests.points.helpers import standard

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(shopper, shop_a):
    return shopper  # holds spendable points from shop A's purchase and grant


def test_small_adjustment_is_applied_at_once_through_the_ledger(member, platform_user, ledger_ok):
    before = standard(member).balance

    adjustment = adjustment_request(
        member=member, points=300, reason="Till was offline", requested_by=platform_user
    )

    assert adjustment.status == "applied" and adjustment.decided_by == platform_user
    txn = adjustment.transaction
    assert (txn.kind, txn.reason, txn.member) == ("adjust", "Till was offline", member)
    assert dict(LedgerEntry.objects.filter(transaction=txn).values_list("account", "points")) == {
        standard(member).pk: 300,
        adjustment_account().pk: -300,
    }
    assert standard(member).balance == before + 300
    ledger_ok()


def test_large_adjustment_waits_for_a_second_user(
    member, platform_user, platform_user_2, ledger_ok
):
    before = standard(member).balance
    adjustment = adjustment_request(
        member=member, points=5000, reason="Lost receipts", requested_by=platform_user
    )
    assert adjustment.status == "pending" and adjustment.transaction is None
    assert standard(member).balance == before

    with pytest.raises(SelfApproval):
        adjustment_approve(adjustment=adjustment, approved_by=platform_user)
    assert AdjustmentRequest.objects.get(pk=adjustment.pk).status == "pending"

    approved = adjustment_approve(adjustment=adjustment, approved_by=platform_user_2)

    assert approved.status == "applied" and approved.decided_by == platform_user_2
    assert standard(member).balance == before + 5000
    with pytest.raises(NotPending):
        adjustment_approve(adjustment=adjustment, approved_by=platform_user_2)
    assert standard(member).balance == before + 5000
    ledger_ok()


def test_threshold_is_a_setting(member, platform_user, settings):
    settings.ADJUSTMENT_APPROVAL_THRESHOLD = 100

    adjustment = adjustment_request(
        member=member, points=101, reason="r", requested_by=platform_user
    )

    assert adjustment.status == "pending"


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_missing_reason_is_refused(member, platform_user, reason):
    with pytest.raises(ReasonRequired):
        adjustment_request(member=member, points=10, reason=reason, requested_by=platform_user)

    assert not AdjustmentRequest.objects.exists()


def test_a_deduction_beyond_spendable_points_is_refused(member, platform_user, ledger_ok):
    spendable = standard(member).balance

    with pytest.raises(DeductionTooLarge) as refusal:
        adjustment_request(
            member=member, points=-(spendable + 1), reason="Fraud", requested_by=platform_user
        )

    assert str(spendable) in refusal.value.message
    assert not AdjustmentRequest.objects.exists()
    ledger_ok()


def test_a_deduction_within_spendable_points_is_applied(member, platform_user, ledger_ok):
    before = standard(member).balance

    adjustment_request(
        member=member, points=-200, reason="Duplicate earn", requested_by=platform_user
    )

    assert standard(member).balance == before - 200
    ledger_ok()


def test_a_pending_deduction_no_longer_covered_is_refused_on_approval(
    member, platform_user, platform_user_2, settings, ledger_ok
):
    settings.ADJUSTMENT_APPROVAL_THRESHOLD = 10
    adjustment = adjustment_request(
        member=member, points=-500, reason="r", requested_by=platform_user
    )
    all_points = standard(member).balance
    adjustment_request(
        member=member, points=-(all_points - 100), reason="r", requested_by=platform_user
    )
    adjustment_approve(
        adjustment=AdjustmentRequest.objects.filter(points=-(all_points - 100)).get(),
        approved_by=platform_user_2,
    )

    with pytest.raises(DeductionTooLarge):
        adjustment_approve(adjustment=adjustment, approved_by=platform_user_2)

    assert AdjustmentRequest.objects.get(pk=adjustment.pk).status == "pending"
    ledger_ok()


def test_rejected_adjustment_posts_nothing(member, platform_user, platform_user_2):
    adjustment = adjustment_request(
        member=member, points=5000, reason="r", requested_by=platform_user
    )

    adjustment_reject(adjustment=adjustment, rejected_by=platform_user_2)

    adjustment.refresh_from_db()
    assert adjustment.status == "rejected" and adjustment.transaction is None


def test_merchant_staff_cannot_adjust_even_through_the_service(member, merchant_a_user):
    with pytest.raises(NotAllowed):
        adjustment_request(member=member, points=10, reason="gift", requested_by=merchant_a_user)


# --- the admin ----------------------------------------------------------------------------


def test_admin_form_requires_a_reason(as_platform, member):
    response = as_platform.post(
        "/admin/points/adjustmentrequest/add/",
        {"member_no": member.member_no, "points": 10, "reason": "  "},
    )

    assert response.status_code == 200 and response.context["form"].errors
    assert not AdjustmentRequest.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"member_no": "NOPE", "points": 10, "reason": "x"},
        {"member_no": "", "points": "ten", "reason": "x"},
        {"points": 0, "reason": "x"},
        {"points": -(10**9), "reason": "x"},
    ],
)
def test_admin_form_turns_bad_input_into_errors(as_platform, member, data):
    data = {"member_no": member.member_no, **data}

    response = as_platform.post("/admin/points/adjustmentrequest/add/", data)

    assert response.status_code == 200 and response.context["form"].errors
    assert not AdjustmentRequest.objects.exists()


def test_admin_two_person_rule(as_platform, platform_user_2, member, ledger_ok):
    before = standard(member).balance
    response = as_platform.post(
        "/admin/points/adjustmentrequest/add/",
        {"member_no": member.member_no, "points": 2000, "reason": "Campaign error"},
        follow=True,
    )
    adjustment = AdjustmentRequest.objects.get()
    assert adjustment.status == "pending" and messages_of(response)

    own = as_platform.post(
        "/admin/points/adjustmentrequest/",
        {"action": "approve", "_selected_action": [adjustment.pk]},
        follow=True,
    )
    assert AdjustmentRequest.objects.get().status == "pending"
    assert any(str(adjustment.pk) in m for m in messages_of(own))

    client_for(platform_user_2).post(
        "/admin/points/adjustmentrequest/",
        {"action": "approve", "_selected_action": [adjustment.pk]},
    )
    assert AdjustmentRequest.objects.get().status == "applied"
    assert standard(member).balance == before + 2000
    ledger_ok()


def test_a_platform_user_who_is_also_a_merchant_member_is_scoped_as_a_merchant(
    platform_user, shop_a, member
):
    MerchantMembership.objects.create(user=platform_user, merchant=shop_a.merchant)

    response = client_for(platform_user).get("/admin/points/adjustmentrequest/add/")

    assert response.status_code == 403
