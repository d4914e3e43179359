"""Check-in proves presence; confirmation posts each member's points once, within the cap."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from activities.models import CheckIn, CheckInRefusal
from activities.services import (
    ActivityError,
    CheckInRefused,
    activity_attendance_confirm,
    activity_check_in,
    activity_points_changed,
)
from points import dynamic_code
from points.models import Account, LedgerTransaction, Notification

pytestmark = pytest.mark.django_db


def code_of(activity, at=None):
    return dynamic_code.code_now(activity.checkin_secret, at=at)


def green_balance(member):
    return Account.objects.get(member=member, kind=Account.Kind.GREEN).balance


def check_in(activity, member, *, code=None, device="device-0000000000000001", now=None):
    return activity_check_in(
        activity=activity,
        member=member,
        code=code if code is not None else code_of(activity, now),
        device_id=device,
        now=now,
    )


def after_end(activity):
    return activity.ends_at + timedelta(minutes=1)


def test_two_members_check_in_and_get_the_points_once(make_activity, old_member, ledger_ok):
    activity = make_activity(points=30)
    first, second = old_member(), old_member()
    check_in(activity, first, device="phone-a-0000000000001")
    check_in(activity, second, device="phone-b-0000000000001")

    credited = activity_attendance_confirm(
        activity=activity, actor=activity.approved_by, now=after_end(activity)
    )

    assert [c.points_awarded for c in credited] == [30, 30]
    assert green_balance(first) == green_balance(second) == 30
    txn = LedgerTransaction.objects.get(member=first, kind="green_activity")
    assert txn.reference == f"activity:{activity.pk}"
    assert sorted(e.account.kind for e in txn.entries.select_related("account")) == [
        "activity_issuance",
        "green",
    ]
    assert Notification.objects.filter(member=first, title__contains="30").exists()
    with pytest.raises(ActivityError):
        activity_attendance_confirm(
            activity=activity, actor=activity.approved_by, now=after_end(activity)
        )
    assert LedgerTransaction.objects.filter(kind="green_activity").count() == 2
    assert green_balance(first) == 30
    ledger_ok()


def test_a_no_show_removed_by_the_organiser_gets_nothing(make_activity, old_member, ledger_ok):
    activity = make_activity()
    present, absent = old_member(), old_member()
    check_in(activity, present, device="phone-a-0000000000001")
    check_in(activity, absent, device="phone-b-0000000000001")

    activity_attendance_confirm(
        activity=activity,
        actor=activity.approved_by,
        absent_member_ids=frozenset({absent.pk}),
        now=after_end(activity),
    )

    assert green_balance(absent) == 0
    assert CheckIn.objects.get(member=absent).present is False
    assert green_balance(present) == 30
    ledger_ok()


def test_confirming_before_the_end_posts_nothing(make_activity, old_member):
    activity = make_activity()
    member = old_member()
    check_in(activity, member)
    with pytest.raises(ActivityError):
        activity_attendance_confirm(activity=activity, actor=activity.approved_by)
    assert not LedgerTransaction.objects.filter(kind="green_activity").exists()


@override_settings(GREEN_ACTIVITY_POINTS_MAX_MONTH=100)
def test_the_monthly_cap_holds_across_two_activities(make_activity, old_member, ledger_ok):
    first_day, second_day = make_activity(points=80), make_activity(points=80)
    member = old_member()
    check_in(first_day, member)
    check_in(second_day, member)
    end = max(first_day.ends_at, second_day.ends_at) + timedelta(minutes=1)

    activity_attendance_confirm(activity=first_day, actor=first_day.approved_by, now=end)
    activity_attendance_confirm(activity=second_day, actor=second_day.approved_by, now=end)

    assert green_balance(member) == 100
    assert [c.points_awarded for c in CheckIn.objects.filter(member=member).order_by("pk")] == [
        80,
        20,
    ]
    ledger_ok()


def test_changing_points_after_approval_needs_a_new_approval(make_activity, old_member):
    activity = make_activity(points=30)
    activity.points = 90
    activity_points_changed(activity=activity)
    activity.save()
    member = old_member()
    with pytest.raises(CheckInRefused) as refused:
        check_in(activity, member)
    assert refused.value.code == "not_approved"


@pytest.mark.parametrize(
    "code",
    ["", "12345", "1234567", "abcdef", "１２３４５６", "12 456", "9" * 5000, "\udcff" * 6],
    ids=["missing", "short", "long", "letters", "fullwidth", "space", "huge", "non-utf8"],
)
def test_malformed_codes_are_refused(make_activity, old_member, code):
    activity = make_activity()
    with pytest.raises(CheckInRefused) as refused:
        check_in(activity, old_member(), code=code)
    assert refused.value.code == "wrong_code"
    assert not CheckIn.objects.exists()


def test_a_code_two_steps_old_is_refused_and_the_previous_one_accepted(make_activity, old_member):
    activity = make_activity()
    now = timezone.now()
    with pytest.raises(CheckInRefused):
        check_in(
            activity, old_member(), code=code_of(activity, now - timedelta(seconds=120)), now=now
        )
    assert check_in(
        activity, old_member(), code=code_of(activity, now - timedelta(seconds=60)), now=now
    )


def test_outside_the_time_window_is_refused(make_activity, old_member):
    now = timezone.now()
    later = make_activity(starts=now + timedelta(hours=1), ends=now + timedelta(hours=3))
    over = make_activity(starts=now - timedelta(hours=3), ends=now - timedelta(hours=1))
    for activity in (later, over):
        with pytest.raises(CheckInRefused) as refused:
            check_in(activity, old_member())
        assert refused.value.code == "outside_window"


def test_an_account_younger_than_a_day_is_refused(make_activity, make_member):
    activity = make_activity()
    with pytest.raises(CheckInRefused) as refused:
        check_in(activity, make_member())
    assert refused.value.code == "new_account"


def test_an_unapproved_activity_refuses_check_in(make_activity, old_member):
    activity = make_activity(approved=False)
    with pytest.raises(CheckInRefused) as refused:
        check_in(activity, old_member())
    assert refused.value.code == "not_approved"


def test_one_phone_checks_in_at_most_three_members(make_activity, old_member):
    activity = make_activity()
    for _ in range(3):
        check_in(activity, old_member(), device="shared-phone-000000001")
    with pytest.raises(CheckInRefused) as refused:
        check_in(activity, old_member(), device="shared-phone-000000001")
    assert refused.value.code == "device_limit"
    assert CheckIn.objects.count() == 3


def test_twice_and_full_are_refused(make_activity, old_member):
    activity = make_activity(capacity=1)
    member = old_member()
    check_in(activity, member)
    with pytest.raises(CheckInRefused) as twice:
        check_in(activity, member, device="phone-b-0000000000001")
    with pytest.raises(CheckInRefused) as full:
        check_in(activity, old_member(), device="phone-c-0000000000001")
    assert (twice.value.code, full.value.code) == ("already", "full")
    assert CheckIn.objects.count() == 1


def test_every_refusal_is_logged_for_the_risk_page(make_activity, old_member):
    activity = make_activity()
    member = old_member()
    with pytest.raises(CheckInRefused):
        check_in(activity, member, code="000000" if code_of(activity) != "000000" else "111111")
    refusal = CheckInRefusal.objects.get()
    assert (refusal.member, refusal.reason) == (member, "wrong_code")
    assert len(refusal.device) == 64  # a hash, not the cookie itself


def test_verify_ledger_reconciles_each_activity_posting_with_its_attendance(
    make_activity, old_member, school
):
    from points.selectors import ledger_verify
    from points.services.accounts import community_activity_account
    from points.services.ledger import Posting, ledger_post

    activity = make_activity(points=30)
    member = old_member()
    check_in(activity, member)
    activity_attendance_confirm(
        activity=activity, actor=activity.approved_by, now=after_end(activity)
    )
    assert ledger_verify().ok, ledger_verify().problems

    # The application role can insert a balanced, consistent green credit: the
    # reconciliation names it, since no confirmed attendance stands behind it.
    green = Account.objects.get(member=member, kind=Account.Kind.GREEN)
    forged = ledger_post(
        kind=LedgerTransaction.Kind.GREEN_ACTIVITY,
        idempotency_key="forged-green-activity",
        postings=[Posting(green, 500), Posting(community_activity_account(school), -500)],
        member=member,
        reference=f"activity:{activity.pk}",
    )
    report = ledger_verify()
    assert [f.transaction_id for f in report.findings] == [forged.pk]
    assert "no confirmed attendance" in report.findings[0].message
