"""Merchant analytics date issued points and sales by the same moment: the purchase's
occurred_at. A purchase from 85 days ago recorded today counts in its own month, for both."""

from datetime import timedelta

import pytest
from django.utils import timezone

from points.models import Purchase
from reports.periods import Period
from reports.selectors import merchant_figures, points_issued
from tests.reports.conftest import buy, refund

pytestmark = pytest.mark.django_db


def test_points_and_sales_of_a_late_recorded_purchase_fall_in_the_same_month(shop_a, make_member):
    # Given a purchase made 85 days ago but recorded (posted) today
    member = make_member()
    buy(member, shop_a, [("pens", 1, 500)], timezone.now(), receipt="FIRST")  # bonus, today
    then = timezone.now() - timedelta(days=85)
    old = buy(member, shop_a, [("pens", 1, 12000)], then, receipt="W-128")
    month_then = Period("month", timezone.localdate(then).replace(day=1))
    month_now = Period("month", timezone.localdate().replace(day=1))

    # When the merchant's figures are read for its month and for this month
    figures_then = merchant_figures(shop_a, month_then)
    figures_now = merchant_figures(shop_a, month_now)

    # Then its points and its sales are both in its own month, neither in this one
    assert figures_then.sales_fen == 12000
    assert figures_then.issued == old.points == 120
    assert figures_now.sales_fen == 500 and figures_now.issued == 5
    then_month = [m for m in figures_then.months if m["month"] == month_then.start][0]
    assert then_month["issued"] == 120


def test_a_refund_is_dated_by_its_purchase_like_the_net_sales(shop_a, make_member):
    member = make_member()
    buy(member, shop_a, [("pens", 1, 500)], timezone.now(), receipt="FIRST")
    then = timezone.now() - timedelta(days=85)
    old = buy(member, shop_a, [("pens", 2, 12000)], then, receipt="W-129")
    refund(Purchase.objects.get(pk=old.pk), 1, 1)  # refunded today
    month_then = Period("month", timezone.localdate(then).replace(day=1))

    figures = merchant_figures(shop_a, month_then)

    assert figures.sales_fen == 6000 and figures.issued == 60
    # The settlement still counts by posting time (the ledger's own dates): all today.
    start, end = month_then.bounds
    assert points_issued(shop_a, start, end) == 0
