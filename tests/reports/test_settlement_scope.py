"""The settlement shows adjustments on their own line, and a merchant user sees its own
settlement (and nobody else's) from admin."""

from datetime import timedelta

import pytest
from django.utils import timezone

from points.services.accounts import issuance_account
from points.services.adjustments import adjustment_request
from reports.periods import parse_month
from reports.selectors import settlement_statement
from tests.points.helpers import earn
from tests.reports.conftest import _user

pytestmark = pytest.mark.django_db


def this_month():
    return timezone.localdate().strftime("%Y-%m")


@pytest.fixture
def adjusted(shop_a, make_member, settings):
    from tests.admin.conftest import ensure_roles, make_staff

    _merchant_staff, platform = ensure_roles()
    member = make_member()
    earn(member, issuance_account(shop_a), 50)
    requester = make_staff("adjuster", group=platform)
    adjustment_request(member=member, points=300, reason="till offline", requested_by=requester)
    adjustment_request(member=member, points=-20, reason="typo", requested_by=requester)
    return member


def test_adjustments_have_their_own_settlement_line(adjusted):
    statement = settlement_statement(parse_month(this_month()))

    line = next(line for line in statement.lines if line.slug == "platform-adjustments")
    assert line.issued == 280 and line.redeemed == 0 and line.merchant is None


def test_the_staff_page_and_csv_show_the_adjustments_line(adjusted, staff_client):
    html = staff_client.get(f"/staff/settlement/?month={this_month()}").content.decode()
    assert 'data-slug="platform-adjustments"' in html and "平台（人工调整）" in html

    csv_text = staff_client.get(f"/staff/settlement/?month={this_month()}&format=csv")
    assert "platform-adjustments" in csv_text.content.decode("utf-8-sig")


def test_a_merchant_user_sees_only_its_own_settlement(shop_a, shop_b, merchant_user, client):
    client.force_login(merchant_user)

    response = client.get("/staff/merchant/settlement/")

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-slug="shop-a"' in body
    assert 'data-slug="shop-b"' not in body and 'data-slug="platform' not in body


def test_the_admin_index_links_the_merchant_s_own_settlement(merchant_user, client):
    client.force_login(merchant_user)
    assert "/staff/merchant/settlement/" in client.get("/admin/").content.decode()


def test_others_cannot_open_a_merchant_settlement(client, platform_staff, make_member, db):
    assert client.get("/staff/merchant/settlement/").status_code == 302
    client.force_login(make_member().user)
    assert client.get("/staff/merchant/settlement/").status_code == 403
    client.force_login(platform_staff)  # staff see the whole statement elsewhere
    assert client.get("/staff/merchant/settlement/").status_code == 403
    client.force_login(_user("plain-staff", staff=True))
    assert client.get("/staff/merchant/settlement/").status_code == 403


@pytest.mark.parametrize(
    "month", ["9999-12", "0000-01", "2026-13", "2026-00", "-2026-01", "x" * 5000, "%FF%FE", "2026"]
)
def test_a_bad_month_is_a_400(merchant_user, client, month):
    client.force_login(merchant_user)
    assert client.get(f"/staff/merchant/settlement/?month={month}").status_code == 400


def test_an_earlier_month_is_shown(merchant_user, client):
    client.force_login(merchant_user)
    earlier = (timezone.localdate().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    assert client.get(f"/staff/merchant/settlement/?month={earlier}").status_code == 200
