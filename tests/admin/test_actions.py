"""Admin actions and pages of merchant users go through the services; the ledger stays sound."""

import pytest

from merchants.models import Terminal, hash_api_key
from redemption.models import Redemption, Voucher
from tests.admin.conftest import messages_of
from tests.points.helpers import standard

pytestmark = pytest.mark.django_db


def act(client, url, action, pks):
    return client.post(
        f"/admin/{url}/",
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )


def test_merchant_marks_its_redemption_fulfilled(as_merchant_a, shop_a, shop_b, ledger_ok):
    act(
        as_merchant_a,
        "redemption/redemption",
        "mark_fulfilled",
        [shop_a.redemption.pk, shop_b.redemption.pk],
    )

    assert Redemption.objects.get(pk=shop_a.redemption.pk).status == "fulfilled"
    assert Redemption.objects.get(pk=shop_b.redemption.pk).status == "confirmed"
    ledger_ok()


def test_merchant_cancel_returns_points_with_compensation(
    as_merchant_a, shop_a, shopper, ledger_ok
):
    before = standard(shopper).balance

    as_merchant_a.post(
        "/admin/redemption/redemption/",
        {
            "action": "merchant_cancel",
            "_selected_action": [str(shop_a.redemption.pk)],
            "confirm": "yes",
            "reason": "门店缺货",
        },
    )

    redemption = Redemption.objects.get(pk=shop_a.redemption.pk)
    assert (redemption.status, redemption.cancelled_by) == ("cancelled", "merchant")
    assert redemption.compensation_points == 40  # 10% of the 400 paid in the winter sale
    assert standard(shopper).balance == before + 400 + 40
    assert redemption.compensation_transaction.merchant == shop_a.merchant
    ledger_ok()


def test_scan_page_marks_own_voucher_used_from_a_loosely_typed_code(
    as_merchant_a, shop_a, ledger_ok
):
    voucher = shop_a.voucher
    typed = voucher.code.replace("-", " ").lower()

    response = as_merchant_a.post("/admin/redemption/voucher/scan/", {"code": typed}, follow=True)

    voucher.refresh_from_db()
    assert voucher.used_at is not None and voucher.used_by == "user:merchant-a"
    assert Redemption.objects.get(pk=voucher.redemption_id).status == "fulfilled"
    assert any(voucher.code in m for m in messages_of(response))
    ledger_ok()


def test_scan_page_treats_another_merchants_code_as_not_found(as_merchant_a, shop_b):
    other = as_merchant_a.post("/admin/redemption/voucher/scan/", {"code": shop_b.voucher.code})
    missing = as_merchant_a.post("/admin/redemption/voucher/scan/", {"code": "2345-6789-ABCD-EFGH"})

    assert other.status_code == missing.status_code == 200
    assert other.context["form"].errors == missing.context["form"].errors
    assert Voucher.objects.get(pk=shop_b.voucher.pk).used_at is None


def test_scan_page_refuses_a_used_voucher_with_a_form_error(as_merchant_a, shop_a):
    as_merchant_a.post("/admin/redemption/voucher/scan/", {"code": shop_a.voucher.code})

    again = as_merchant_a.post("/admin/redemption/voucher/scan/", {"code": shop_a.voucher.code})

    assert again.status_code == 200 and again.context["form"].errors["code"]


def test_voucher_list_links_to_the_scan_page(as_merchant_a):
    assert (
        "/admin/redemption/voucher/scan/"
        in as_merchant_a.get("/admin/redemption/voucher/").content.decode()
    )


def test_new_terminal_key_is_shown_once_with_a_copy_button(as_merchant_a, shop_a):
    response = as_merchant_a.post(
        "/admin/merchants/terminal/add/",
        {"store": shop_a.store.pk, "name": "Till 2", "active": "on"},
        follow=True,
    )

    terminal = Terminal.objects.get(name="Till 2")
    shown = next(m for m in messages_of(response) if "jf-terminal-key" in m)
    raw_key = shown.split("user-select:all'>")[1].split("<")[0]
    assert hash_api_key(raw_key) == terminal.key_hash
    assert "navigator.clipboard" in response.content.decode()
    assert raw_key not in as_merchant_a.get("/admin/merchants/terminal/").content.decode()


def test_reward_list_shows_stock_prices_and_redemptions_this_month(
    as_merchant_a, shop_a, django_assert_max_num_queries
):
    with django_assert_max_num_queries(30):
        response = as_merchant_a.get("/admin/redemption/reward/")

    page = response.content.decode()
    row = next(r for r in response.context["cl"].result_list if r.pk == shop_a.reward.pk)
    assert row.month_redemptions == 1 and row.stock == 9
    assert "A Winter sale" in page and "400" in page  # seasonal price today
    assert f"?reward__id__exact={shop_a.reward.pk}" in page
