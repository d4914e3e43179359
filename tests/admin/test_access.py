"""What merchant users cannot reach at all, and what the ledger views show them."""

import pytest

from merchants.models import Terminal
from points.models import AdjustmentRequest, LedgerTransaction

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/admin/points/ledgertransaction/add/",
        "/admin/points/account/",
        "/admin/points/pointlot/",
        "/admin/points/lotallocation/",
        "/admin/points/ledgerseal/",
        "/admin/points/member/",
        "/admin/points/adjustmentrequest/",
        "/admin/points/adjustmentrequest/add/",
        "/admin/auth/user/",
        "/admin/auth/group/",
        "/admin/merchants/merchantmembership/",
    ],
)
def test_merchant_user_cannot_reach_platform_pages(as_merchant_a, url):
    assert as_merchant_a.get(url).status_code == 403


def test_merchant_user_sees_only_its_own_merchant_read_only(as_merchant_a, shop_a):
    # Issue #20: a merchant user opens its own merchant's pages (read-only), no one else's.
    body = as_merchant_a.get("/admin/merchants/merchant/").content.decode()
    assert shop_a.merchant.name in body
    page = as_merchant_a.get(f"/admin/merchants/merchant/{shop_a.merchant.pk}/change/")
    assert page.status_code == 200
    assert 'name="name"' not in page.content.decode()  # no editable field
    assert (
        as_merchant_a.post(
            f"/admin/merchants/merchant/{shop_a.merchant.pk}/change/", {"name": "x"}
        ).status_code
        == 403
    )


def test_merchant_user_cannot_write_its_own_ledger_rows(as_merchant_a, shop_a):
    txn = shop_a.redemption.ledger_transaction

    response = as_merchant_a.post(
        f"/admin/points/ledgertransaction/{txn.pk}/change/", {"reason": "edited"}
    )

    assert response.status_code == 403
    assert LedgerTransaction.objects.get(pk=txn.pk).reason == txn.reason


def test_merchant_user_cannot_request_an_adjustment(as_merchant_a, shopper):
    response = as_merchant_a.post(
        "/admin/points/adjustmentrequest/add/",
        {"member_no": shopper.member_no, "points": 50, "reason": "gift"},
    )

    assert response.status_code == 403
    assert not AdjustmentRequest.objects.exists()


def test_merchant_user_cannot_rotate_another_merchants_terminal_key(as_merchant_a, shop_b):
    before = shop_b.terminal.key_hash

    as_merchant_a.post(
        "/admin/merchants/terminal/",
        {"action": "rotate_key", "_selected_action": [shop_b.terminal.pk]},
    )

    assert Terminal.objects.get(pk=shop_b.terminal.pk).key_hash == before


def test_merchant_ledger_view_shows_member_numbers_but_no_other_member_details(
    as_merchant_a, shop_a, shopper
):
    response = as_merchant_a.get("/admin/points/ledgertransaction/")
    txn = shop_a.redemption.ledger_transaction
    detail = as_merchant_a.get(f"/admin/points/ledgertransaction/{txn.pk}/change/")

    kinds = {t.kind for t in response.context["cl"].result_list}
    assert kinds == {"earn", "redeem"}  # its purchase and redemptions; not B's, no adjustments
    for page in (response.content.decode(), detail.content.decode()):
        assert shopper.member_no in page
        assert "shopper@example.com" not in page and "13800138000" not in page
        assert ">shopper<" not in page  # the username


def test_platform_staff_see_all_ledger_rows_read_only(as_platform, shop_a, shop_b):
    response = as_platform.get("/admin/points/ledgertransaction/")

    merchants = {t.merchant_id for t in response.context["cl"].result_list}
    assert {shop_a.merchant.pk, shop_b.merchant.pk} <= merchants
    assert as_platform.get("/admin/points/ledgertransaction/add/").status_code == 403


def test_platform_staff_see_members_with_masked_mobiles(as_platform, shopper):
    listing = as_platform.get("/admin/points/member/").content.decode()
    detail = as_platform.get(f"/admin/points/member/{shopper.pk}/change/").content.decode()

    for page in (listing, detail):
        assert shopper.member_no in page
        assert "13800138000" not in page and "138****8000" in page


def test_a_staff_user_without_a_role_sees_no_merchant_rows(roles, shop_a):
    from tests.admin.conftest import client_for, make_staff

    nobody = make_staff("nobody")
    nobody.user_permissions.add(*roles[0].permissions.all())

    response = client_for(nobody).get("/admin/redemption/reward/")

    assert response.status_code == 200 and list(response.context["cl"].result_list) == []


def test_admin_is_in_chinese_with_its_header(as_merchant_a):
    page = as_merchant_a.get("/admin/").content.decode()

    assert "积分管理后台" in page


def test_admin_header_in_english(as_merchant_a):
    page = as_merchant_a.get("/admin/", headers={"accept-language": "en"}).content.decode()

    assert "Jifen back office" in page


def test_a_merchant_reads_its_own_rule_history_only_and_can_change_none_of_it(
    as_merchant_a, shop_a, shop_b
):
    """A dishonest merchant cannot look at a competitor's multipliers, nor rewrite the
    history its own earns are checked against."""
    from points.models import RuleVersion

    own = RuleVersion.objects.filter(merchant=shop_a.merchant).first()
    other = RuleVersion.objects.filter(merchant=shop_b.merchant).first()

    listing = as_merchant_a.get("/admin/points/ruleversion/")
    assert listing.status_code == 200
    assert as_merchant_a.get(f"/admin/points/ruleversion/{own.pk}/change/").status_code == 200
    assert as_merchant_a.get(f"/admin/points/ruleversion/{other.pk}/change/").status_code == 404
    assert shop_b.merchant.name not in listing.content.decode()
    response = as_merchant_a.post(f"/admin/points/ruleversion/{own.pk}/change/", {"ledger_seq": 0})
    assert response.status_code == 403
    assert as_merchant_a.get("/admin/points/ruleversion/add/").status_code == 403
    assert RuleVersion.objects.get(pk=own.pk).data == own.data
