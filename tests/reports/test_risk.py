"""风控 (/staff/risk/): a farming day is flagged, the page is for platform staff only, bad
parameters are a 400, and the daily task emails the flagged rows to staff."""

import itertools
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from points.models import Member
from points.services.adjustments import adjustment_request
from points.services.bonuses import SIGNUP, bonus_grant
from redemption.services.redemptions import reward_redeem
from redemption.services.rewards import reward_create
from reports.risk import risk_report
from reports.services.risk import risk_report_email
from reports.tasks import risk_report_email_task
from tests.points.conftest import POS_KEY

pytestmark = pytest.mark.django_db
_n = itertools.count(1)


@pytest.fixture
def low_thresholds(settings):
    settings.RISK_THRESHOLDS = {
        "new_members": 3,
        "first_bonuses": 2,
        "under_minimum": 3,
        "tiny_by_one_terminal": 3,
        "young_redeemed_points": 150,
        "adjusted_points_by_requester": 500,
    }
    return settings.RISK_THRESHOLDS


def pos_buy(member, fen):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {POS_KEY}")
    n = next(_n)
    response = client.post(
        "/api/v1/purchases",
        data=json.dumps(
            {
                "member_no": member.member_no,
                "receipt_no": f"RISK-{n}",
                "occurred_at": (timezone.localtime() - timedelta(minutes=1)).isoformat(),
                "lines": [{"line_no": 1, "category": "pens", "quantity": 1, "amount_fen": fen}],
            }
        ),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=f"risk-{n}",
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def farming_day(shop_a, make_member, low_thresholds):
    """Five throwaway members at shop A: 1-fen purchases, a ¥20 first purchase each for two
    of them, and their sign-up bonuses spent on shop A's own voucher."""
    voucher = reward_create(
        merchant=shop_a, title="¥5 voucher", points_price=100, face_value_fen=500
    )
    for n in range(5):
        member = make_member()
        bonus_grant(member=member, kind=SIGNUP)
        pos_buy(member, 1)
        reward_redeem(member=member, reward=voucher, quantity=1, idempotency_key=f"f{n}")
    for _ in range(3):
        pos_buy(make_member(), 2000)
    return shop_a


def test_a_farming_day_is_flagged(farming_day, shop_b, make_member):
    pos_buy_b = make_member()  # an ordinary day at shop B: one member, no purchase
    report = risk_report(first=timezone.localdate(), last=timezone.localdate())

    row = next(r for r in report.rows if r.merchant == farming_day)
    assert row.new_members == 8
    assert row.first_bonuses == 3
    assert row.under_minimum == 5
    assert row.tiny_by_one_terminal == 5
    assert row.young_redeemed_points == 500
    assert set(row.flags) == {
        "new_members",
        "first_bonuses",
        "under_minimum",
        "tiny_by_one_terminal",
        "young_redeemed_points",
    }
    assert not [r for r in report.rows if r.merchant == shop_b and r.flagged]
    assert pos_buy_b.pk


def test_an_old_member_s_redemptions_are_not_counted_as_young(shop_a, make_member, low_thresholds):
    member = make_member()
    Member.objects.filter(pk=member.pk).update(joined_at=timezone.now() - timedelta(days=30))
    bonus_grant(member=member, kind=SIGNUP)
    voucher = reward_create(merchant=shop_a, title="V", points_price=100, face_value_fen=500)
    reward_redeem(member=member, reward=voucher, quantity=1, idempotency_key="old")

    report = risk_report(first=timezone.localdate(), last=timezone.localdate())

    assert not any(r.young_redeemed_points for r in report.rows)


def test_the_page_shows_and_flags_the_farming_day(farming_day, staff_client):
    response = staff_client.get("/staff/risk/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "风控" in body
    assert f'data-merchant="{farming_day.slug}"' in body and 'class="flagged"' in body


def test_adjustments_by_requester_are_flagged(shop_a, make_member, low_thresholds, settings):
    from tests.admin.conftest import ensure_roles, make_staff

    settings.ADJUSTMENT_APPROVAL_THRESHOLD = 10_000
    _merchant_staff, platform = ensure_roles()
    requester = make_staff("adjuster", group=platform)
    for _ in range(3):
        adjustment_request(member=make_member(), points=200, reason="x", requested_by=requester)

    report = risk_report(first=timezone.localdate(), last=timezone.localdate())

    (row,) = report.adjustments
    assert (row.requester, row.count, row.points, row.flagged) == ("adjuster", 3, 600, True)


@pytest.mark.parametrize("who", ["member", "merchant"])
def test_the_page_is_403_for_merchants_and_members(who, client, merchant_user, make_member):
    assert client.get("/staff/risk/").status_code == 302  # anonymous: to the login page
    client.force_login(merchant_user if who == "merchant" else make_member().user)
    assert client.get("/staff/risk/").status_code == 403


@pytest.mark.parametrize(
    "days",
    ["0", "-1", "93", "9999999999999999", "abc", "1.5", "１", "%FF%FE", "7;1", " 7"],
)
def test_a_bad_days_parameter_is_a_400(staff_client, days):
    response = staff_client.get(f"/staff/risk/?days={days}")

    assert response.status_code == 400
    assert "天数" in response.content.decode() or "1" in response.content.decode()


@pytest.mark.parametrize("days", ["", "1", "92"])
def test_good_or_missing_days_are_shown(staff_client, days):
    assert staff_client.get(f"/staff/risk/?days={days}").status_code == 200


def test_the_page_makes_few_queries(farming_day, staff_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(15):
        staff_client.get("/staff/risk/?days=31")


def test_the_daily_task_emails_the_flagged_rows_to_staff(farming_day, platform_staff, settings):
    platform_staff.email = "risk@example.com"
    platform_staff.save()

    flagged = risk_report_email_task(timezone.localdate().isoformat())

    assert flagged == 1
    (message,) = mail.outbox
    assert message.to == ["risk@example.com"]
    assert farming_day.name in message.body and "风控" in message.subject


def test_no_flagged_rows_no_email(shop_a, platform_staff, low_thresholds):
    platform_staff.email = "risk@example.com"
    platform_staff.save()

    assert risk_report_email(day=timezone.localdate()) == 0
    assert mail.outbox == []


def test_the_task_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["risk-report-daily"]
    assert entry["task"] == "reports.tasks.risk_report_email_task"
