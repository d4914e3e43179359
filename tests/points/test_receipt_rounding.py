"""The receipt rounding table: a purchase earns the floor of the SUM of its lines' exact
points, on every path that records one (general, one-statement, bulk import), and a refund of
one line takes back exactly that line's share."""

import pytest
from django.utils import timezone

from points.models import Purchase, PurchaseLine
from points.services import purchases
from points.services.imports import purchases_import
from points.services.purchases import (
    LineRequest,
    RefundLineRequest,
    purchase_record,
    purchase_refund,
)
from tests.points.helpers import standard
from tests.points.test_import import write_csv

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

FIVE_LINES_OF_2_19 = [
    LineRequest(line_no=number, quantity=1, amount_fen=219, category="pens")
    for number in range(1, 6)
]


def buy(terminal, member, receipt_no, lines=FIVE_LINES_OF_2_19):
    return purchase_record(
        merchant=terminal.store.merchant,
        member=member,
        receipt_no=receipt_no,
        occurred_at=timezone.now(),
        terminal=terminal,
        lines=lines,
        actor="test",
    )


def line_points(purchase):
    return list(
        PurchaseLine.objects.filter(purchase=purchase)
        .order_by("line_no")
        .values_list("points", flat=True)
    )


def test_five_lines_of_2_19_earn_10_points_on_the_general_path(shop, make_member, ledger_ok):
    member = make_member()
    purchase = buy(shop, member, "first")  # a first purchase: the general path

    assert purchase.points == 10
    assert line_points(purchase) == [2, 2, 2, 2, 2]
    ledger_ok()


def test_five_lines_of_2_19_earn_10_points_on_the_one_statement_path(
    shop, make_member, monkeypatch, ledger_ok
):
    member = make_member()
    buy(shop, member, "first")
    taken = []
    original = purchases._record_at_once

    def spy(*args, **kwargs):
        taken.append(original(*args, **kwargs))
        return taken[-1]

    monkeypatch.setattr(purchases, "_record_at_once", spy)
    purchase = buy(shop, member, "again")

    assert taken == [True]  # the one-statement path wrote it
    assert Purchase.objects.get(pk=purchase.pk).points == 10
    assert line_points(purchase) == [2, 2, 2, 2, 2]
    ledger_ok()


def test_five_lines_of_2_19_earn_10_points_in_the_bulk_import(
    shop, make_member, tmp_path, ledger_ok
):
    member = make_member()
    merchant = shop.store.merchant
    rows = [
        [merchant.slug, member.member_no, "W-128", "2026-09-02T10:30:00+08:00", "", "pens", 1, 219]
        for _ in range(5)
    ]
    purchases_import(path=write_csv(tmp_path / "five.csv", rows), progress=False)

    purchase = Purchase.objects.get(merchant=merchant, receipt_no="W-128")
    assert purchase.points == 10
    assert line_points(purchase) == [2, 2, 2, 2, 2]
    assert standard(member).balance == 10
    ledger_ok()


def test_refund_of_one_line_takes_back_exactly_its_share_and_all_lines_take_back_all(
    shop, make_member, ledger_ok
):
    member = make_member()
    buy(shop, member, "first")
    purchase = buy(shop, member, "W-128")
    before = standard(member).balance
    merchant = shop.store.merchant

    one = purchase_refund(
        merchant=merchant,
        receipt_no="W-128",
        refund_no="RF-1",
        lines=[RefundLineRequest(line_no=3, quantity=1)],
    )
    assert one.points == 2
    assert standard(member).balance == before - 2

    rest = purchase_refund(
        merchant=merchant,
        receipt_no="W-128",
        refund_no="RF-2",
        lines=[RefundLineRequest(line_no=n, quantity=1) for n in (1, 2, 4, 5)],
    )
    assert one.points + rest.points == purchase.points == 10
    assert standard(member).balance == before - 10
    ledger_ok()
