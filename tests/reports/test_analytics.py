"""Community, merchant and settlement figures, checked against sums taken straight from the
purchases, and who may see which page."""

import subprocess
from collections import defaultdict

import pytest

from points.models import Purchase, Refund
from reports.periods import current_month, parse_year
from reports.selectors import community_figures, merchant_figures, settlement_statement
from tests.points.helpers import spend
from tests.reports.conftest import at, buy, refund

pytestmark = pytest.mark.django_db


@pytest.fixture
def school_year(shop_a, shop_b, make_member, school):
    """Three pupils and an outsider buying in 2025, with one partial refund."""
    pupils = [make_member(community=school) for _ in range(3)]
    outsider = make_member()
    first = buy(pupils[0], shop_a, [("GREEN-NB-01", 3, 3840), ("pens", 2, 700)], at(2025, 3))
    buy(pupils[0], shop_a, [("GREEN-TEA-01", 4, 8000)], at(2025, 6))
    buy(pupils[1], shop_b, [("GREEN-NB-01", 1, 1280)], at(2025, 3, 28))
    buy(pupils[1], shop_a, [("notebooks", 1, 5000)], at(2025, 11))
    buy(outsider, shop_a, [("GREEN-NB-01", 9, 11520)], at(2025, 3))
    refund(first, line_no=1, quantity=1)
    return school


def test_community_figures_equal_sums_of_its_members_purchases(school_year):
    figures = community_figures(school_year, parse_year("2025"))

    purchases = Purchase.objects.filter(member__community=school_year).prefetch_related("lines")
    carbon, points, buyers = defaultdict(int), defaultdict(int), defaultdict(set)
    for purchase in purchases:
        month = purchase.occurred_at.astimezone(at(2025, 1).tzinfo).month
        buyers[month].add(purchase.member_id)
        points[month] += purchase.green_points
        for line in purchase.lines.all():
            carbon[month] += (
                line.carbon_saved_g * (line.quantity - line.refunded_quantity) // line.quantity
            )
    for refund_row in Refund.objects.filter(purchase__member__community=school_year):
        points[refund_row.purchase.occurred_at.astimezone(at(2025, 1).tzinfo).month] -= (
            refund_row.green_points
        )

    by_month = {m.month.month: m for m in figures.months}
    assert len(figures.months) == 12
    for month in range(1, 13):
        assert by_month[month].carbon_g == carbon[month], month
        assert by_month[month].green_points == points[month], month
        assert by_month[month].participants == len(buyers[month]), month
    assert figures.carbon_g == 2 * 300 + 4 * 100 + 300
    assert figures.participants == 2 and figures.members == 3
    assert [row["category"] for row in figures.top_categories] == ["Notebooks", "Tea"]


def test_community_page_and_pdf_for_platform_staff(school_year, staff_client):
    page = staff_client.get(f"/staff/communities/{school_year.pk}/?year=2025")
    assert page.status_code == 200
    assert "晨光实验小学" in page.content.decode()

    pdf = staff_client.get(f"/staff/communities/{school_year.pk}/?year=2025&format=pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_a_bad_year_is_a_clear_400(school_year, staff_client):
    response = staff_client.get(f"/staff/communities/{school_year.pk}/?year=20x5")
    assert response.status_code == 400
    assert "YYYY" in response.content.decode()


@pytest.fixture
def month_of_trade(shop_a, shop_b, make_member):
    """Purchases at both shops, a refund, and redemptions at both, all recorded this month."""
    ann, bob = make_member(), make_member()
    now = current_month().bounds[0]
    p1 = buy(ann, shop_a, [("notebooks", 2, 12800), ("GREEN-NB-01", 1, 1280)], now)
    buy(bob, shop_b, [("pens", 3, 4500)], now)
    buy(ann, shop_b, [("tea", 1, 3000)], now)
    refund(p1, line_no=1, quantity=1)
    spend(ann, shop_b, 120)
    spend(bob, shop_a, 30)
    spend(bob, shop_b, 10)
    return {"a": shop_a, "b": shop_b}


def test_settlement_equals_issued_and_redeemed_sums_from_purchases(month_of_trade, settings):
    settings.SETTLEMENT_FEN_PER_POINT = 2

    statement = settlement_statement(current_month())

    lines = {line.slug: line for line in statement.lines}
    for merchant in month_of_trade.values():
        purchases = Purchase.objects.filter(merchant=merchant)
        issued = sum(p.points for p in purchases) - sum(
            r.points for r in Refund.objects.filter(purchase__merchant=merchant)
        )
        assert lines[merchant.slug].issued == issued
    assert lines["shop-a"].redeemed == 30 and lines["shop-b"].redeemed == 130
    assert lines["shop-a"].net_fen == (30 - lines["shop-a"].issued) * 2
    assert lines["platform"].issued == 200  # two first-purchase bonuses
    assert statement.net_points == sum(line.redeemed - line.issued for line in statement.lines)


def test_settlement_as_csv_with_bom_and_as_pdf(month_of_trade, staff_client):
    label = current_month().label

    csv_response = staff_client.get(f"/staff/settlement/?month={label}&format=csv")
    assert csv_response.content.startswith(b"\xef\xbb\xbf")
    rows = csv_response.content.decode("utf-8-sig").splitlines()
    assert (
        rows[0].startswith("商户,") and len(rows) == 1 + 3 + 1
    )  # header, 2 shops + platform, total

    pdf = staff_client.get(f"/staff/settlement/?month={label}&format=pdf")
    assert pdf.content.startswith(b"%PDF")
    html = staff_client.get(f"/staff/settlement/?month={label}").content.decode()
    assert "结算单" in html and "Shop shop-a" in html


def test_settlement_pdf_embeds_a_cjk_font(month_of_trade, staff_client, tmp_path):
    pdf = staff_client.get(f"/staff/settlement/?month={current_month().label}&format=pdf")
    (tmp_path / "s.pdf").write_bytes(pdf.content)
    fonts = subprocess.run(["pdffonts", str(tmp_path / "s.pdf")], capture_output=True).stdout
    assert b"CJK" in fonts


def test_merchant_figures_issued_redeemed_liability_green_share(month_of_trade):
    figures = merchant_figures(month_of_trade["a"], current_month())

    purchase = Purchase.objects.get(merchant=month_of_trade["a"])
    refunded = Refund.objects.get(purchase=purchase).points
    assert figures.issued == purchase.points - refunded
    assert figures.redeemed == 30
    # Ann spent 120 at shop-b: from her lots, soonest-expiring first, shop-a's lot first.
    assert figures.liability <= figures.issued
    assert figures.green_sales_fen == 1280 and figures.sales_fen == 6400 + 1280
    assert figures.green_share_percent == round(100 * 1280 / 7680, 1)


def test_merchant_liability_is_what_members_still_hold_of_its_points(shop_a, make_member):
    member = make_member()
    purchase = buy(member, shop_a, [("pens", 1, 10000)], current_month().bounds[0])
    assert merchant_figures(shop_a, current_month()).liability == purchase.points


def test_merchant_user_sees_only_their_own_merchant(month_of_trade, merchant_user, client):
    client.force_login(merchant_user)

    page = client.get("/staff/merchant/analytics/")

    assert page.status_code == 200
    body = page.content.decode()
    assert "Shop shop-a" in body and "Shop shop-b" not in body
    assert 'data-testid="redeemed">30<' in body


def test_analytics_is_forbidden_to_everyone_without_a_merchant(make_member, platform_staff, client):
    client.force_login(make_member().user)
    assert client.get("/staff/merchant/analytics/").status_code == 403
    client.force_login(platform_staff)
    assert client.get("/staff/merchant/analytics/").status_code == 403


@pytest.mark.parametrize(
    "path",
    ["/staff/", "/staff/communities/", "/staff/settlement/", "/staff/audit/", "/staff/integrity/"],
)
def test_staff_pages_are_forbidden_to_members_and_merchant_users(
    path, make_member, merchant_user, client
):
    assert client.get(path).status_code == 302  # anonymous: to the login page
    client.force_login(make_member().user)
    assert client.get(path).status_code == 403
    client.force_login(merchant_user)
    assert client.get(path).status_code == 403


def test_admin_index_links_the_report_pages(platform_staff, merchant_user, client):
    client.force_login(platform_staff)
    body = client.get("/admin/").content.decode()
    assert "/staff/audit/" in body and "/staff/integrity/" in body

    client.force_login(merchant_user)
    body = client.get("/admin/").content.decode()
    assert "/staff/merchant/analytics/" in body and "/staff/audit/" not in body


def test_list_pages_make_a_bounded_number_of_queries(
    school_year, staff_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        staff_client.get("/staff/communities/")
    with django_assert_max_num_queries(12):
        staff_client.get("/staff/audit/")


def test_top_rewards_count_only_the_merchants_uncancelled_redemptions(
    shop_a, shop_b, make_member, merchant_user, client
):
    from points.services.accounts import issuance_account
    from redemption.services.redemptions import redemption_cancel_by_member, reward_redeem
    from redemption.services.rewards import reward_create
    from tests.points.helpers import earn

    member = make_member()
    earn(member, issuance_account(shop_a), 5000)
    pen = reward_create(merchant=shop_a, title="Pen", points_price=100, face_value_fen=500)
    book = reward_create(merchant=shop_a, title="Book", points_price=200, face_value_fen=1000)
    bag = reward_create(merchant=shop_b, title="Bag", points_price=100, face_value_fen=500)
    reward_redeem(member=member, reward=pen, quantity=3, idempotency_key="t1")
    reward_redeem(member=member, reward=book, quantity=1, idempotency_key="t2")
    cancelled = reward_redeem(member=member, reward=book, quantity=2, idempotency_key="t3")
    redemption_cancel_by_member(redemption=cancelled, member=member)
    reward_redeem(member=member, reward=bag, quantity=5, idempotency_key="t4")
    client.force_login(merchant_user)

    rows = client.get("/staff/merchant/analytics/").context["top_rewards"]

    assert [(r["reward__title"], r["units"], r["points"]) for r in rows] == [
        ("Pen", 3, 300),
        ("Book", 1, 200),
    ]
