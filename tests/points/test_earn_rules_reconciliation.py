"""Every earn is recomputed with the rules of its day (issue 19, item 4: earn ↔ purchase lines
and the rules of that day). The rules change in admin; each change is a `RuleVersion`, and
`verify_ledger` checks each purchase against the versions in force when it was recorded."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from merchants.models import Campaign, Category, Product
from points.models import Purchase, RuleVersion
from points.selectors import ledger_verify
from points.services import catalog
from points.services.purchases import LineRequest, purchase_record
from tests.points.helpers import key

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(merchant):
    books = Category.objects.create(merchant=merchant, name="图书", slug="books")
    Product.objects.create(
        merchant=merchant,
        sku="BAG",
        name="布袋",
        category=books,
        price_fen=1000,
        is_green=True,
        carbon_saved_g=250,
    )
    return merchant


def _buy(member, merchant, *, amount_fen=1000, sku=None, days_ago=0):
    return purchase_record(
        merchant=merchant,
        member=member,
        receipt_no=key("R"),
        occurred_at=timezone.now() - timedelta(days=days_ago),
        lines=[
            LineRequest(
                line_no=1,
                quantity=1,
                amount_fen=amount_fen,
                sku=sku,
                category=None if sku else "books",
            )
        ],
    )


def _rules_findings(report):
    return [p for p in report.problems if "the rules of" in p or "unknown then" in p]


def test_every_rule_change_in_admin_is_a_version(shop):
    """Given a category, when its multiplier is saved twice (once unchanged), then two
    versions: the creation and the real change."""
    books = Category.objects.get(merchant=shop, slug="books")
    books.multiplier = Decimal("1.50")
    books.save()
    books.save()

    versions = RuleVersion.objects.filter(kind="category", object_id=books.pk)
    assert [v.data["multiplier"] for v in versions] == ["1.00", "1.50"]


def test_earns_under_rules_that_changed_since_still_reconcile(shop, make_member):
    """Given purchases under ×1 and a ×2 campaign, then a ×3 category, 2 points per yuan and
    a changed campaign: every purchase verifies against the rules it was recorded under."""
    member = make_member()
    _buy(member, shop, days_ago=1)  # before any change: 10 points
    campaign = Campaign.objects.create(
        merchant=shop,
        name="双倍",
        starts_on=timezone.localdate() - timedelta(days=3),
        ends_on=timezone.localdate() + timedelta(days=3),
        multiplier=Decimal("2.00"),
    )
    under_campaign = _buy(member, shop)
    books = Category.objects.get(merchant=shop, slug="books")
    books.multiplier = Decimal("3.00")
    books.save()
    shop.points_per_yuan = 2
    shop.save()
    campaign.multiplier = Decimal("5.00")
    campaign.save()
    green = _buy(member, shop, sku="BAG")
    campaign.delete()

    assert under_campaign.points == 20
    assert (green.points, green.green_points) == (300, 2)
    report = ledger_verify(reconcile=True)
    assert report.ok, report.problems


def test_a_campaign_created_later_with_a_past_start_does_not_reach_back(shop, make_member):
    """Given a purchase yesterday, when a campaign is created today starting last week, then
    yesterday's purchase (which did not get it) still reconciles, and today's gets it."""
    member = make_member()
    before = _buy(member, shop, days_ago=1)
    Campaign.objects.create(
        merchant=shop,
        name="补记的活动",
        starts_on=timezone.localdate() - timedelta(days=7),
        ends_on=timezone.localdate(),
        multiplier=Decimal("2.00"),
    )
    after = _buy(member, shop, days_ago=1)

    assert (before.points, after.points) == (10, 20)
    assert ledger_verify(reconcile=True).ok


def test_a_rule_changed_without_a_trace_is_named(shop, make_member):
    """A dishonest insider raises a multiplier with a bulk update (no signal, no version),
    records a purchase, and puts it back: the purchase earned under rules that never were."""
    member = make_member()
    Category.objects.filter(merchant=shop, slug="books").update(multiplier=Decimal("9.00"))
    catalog.catalog_forget()
    farmed = _buy(member, shop)
    Category.objects.filter(merchant=shop, slug="books").update(multiplier=Decimal("1.00"))

    assert farmed.points == 90
    report = ledger_verify(reconcile=True)
    assert not report.ok
    [finding] = _rules_findings(report)
    assert farmed.receipt_no in finding and "90" in finding and "give 10" in finding


def test_a_line_rewritten_to_a_smaller_amount_is_named(shop, make_member):
    """The application role may update purchase lines: a ¥10 line rewritten to ¥1 leaves a
    purchase, its lines and the posting agreeing with each other but not with the rules."""
    member = make_member()
    purchase = _buy(member, shop)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE points_purchaseline SET amount_fen = 100 WHERE purchase_id = %s",
            [purchase.pk],
        )
        cursor.execute("UPDATE points_purchase SET total_fen = 100 WHERE id = %s", [purchase.pk])

    [finding] = _rules_findings(ledger_verify(reconcile=True))
    assert purchase.receipt_no in finding and "give 1 " in finding


def test_a_purchase_without_lines_is_named(shop, make_member):
    member = make_member()
    purchase = _buy(member, shop)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM points_purchaseline WHERE purchase_id = %s", [purchase.pk])

    problems = ledger_verify(reconcile=True).problems
    assert any(f"purchase {purchase.receipt_no} has no lines" in p for p in problems), problems


def test_rule_versions_are_append_only(shop):
    version = RuleVersion.objects.filter(merchant=shop).first()
    with pytest.raises(Exception, match="append-only"), connection.cursor() as cursor:
        cursor.execute("UPDATE points_ruleversion SET data = '{}' WHERE id = %s", [version.pk])


def test_a_process_with_cached_rules_is_allowed_the_cache_lifetime_only(
    shop, make_member, time_machine
):
    """Another process keeps the rules up to CATALOG_TTL_SECONDS after a change: an earn
    under the previous rules within that window reconciles; one long after is named."""
    member = make_member()
    _buy(member, shop)  # loads the catalog
    stale = dict(catalog._catalogs)
    books = Category.objects.get(merchant=shop, slug="books")

    books.multiplier = Decimal("2.00")
    books.save()  # the change is recorded now
    catalog._catalogs.update(stale)  # as in another process that has not reloaded yet
    within = _buy(member, shop)
    assert within.points == 10
    assert ledger_verify(reconcile=True).ok

    time_machine.move_to(timezone.now() - timedelta(minutes=5))
    books.multiplier = Decimal("4.00")
    books.save()  # recorded five minutes "ago"
    time_machine.move_to(timezone.now() + timedelta(minutes=5))
    catalog._catalogs.update(stale)
    late = _buy(member, shop)

    assert late.points == 10
    [finding] = _rules_findings(ledger_verify(reconcile=True))
    assert late.receipt_no in finding and "give 40" in finding


def test_every_rule_has_a_version_from_its_creation(shop):
    """Created in admin (or by the migration for older rows): history begins complete."""
    kinds = set(RuleVersion.objects.filter(merchant=shop).values_list("kind", flat=True))
    assert kinds == {"merchant", "category", "product"}
    assert Purchase.objects.count() == 0


def test_a_line_pointing_at_a_product_created_later_is_named(shop, make_member):
    member = make_member()
    purchase = _buy(member, shop)
    books = Category.objects.get(merchant=shop, slug="books")
    later = Product.objects.create(
        merchant=shop, sku="LATER", name="后来的商品", category=books, price_fen=100
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE points_purchaseline SET product_id = %s WHERE purchase_id = %s",
            [later.pk, purchase.pk],
        )

    report = ledger_verify(reconcile=True)
    [finding] = _rules_findings(report)
    assert f"purchase {purchase.receipt_no} names a category or product unknown then" in finding
