"""The earn-rules engine, as tables: no database."""

from datetime import date
from decimal import Decimal

import pytest

from points.rules import CampaignRule, LineInput, earn_for_purchase, share_of

TODAY = date(2026, 9, 1)


def campaign(
    id=1,
    multiplier="2",
    categories=("notebooks",),
    cap=None,
    stackable=False,
    starts=date(2026, 8, 15),
    ends=date(2026, 9, 30),
):
    return CampaignRule(
        id=id,
        name=f"c{id}",
        multiplier=Decimal(multiplier),
        starts_on=starts,
        ends_on=ends,
        category_slugs=frozenset(categories),
        cap_per_order=cap,
        stackable=stackable,
    )


def earn(*lines, rate=1, campaigns=()):
    return earn_for_purchase(lines=list(lines), points_per_yuan=rate, campaigns=campaigns, on=TODAY)


def line(amount_fen, category="pens", multiplier="1", quantity=1, line_no=1, carbon=0):
    return LineInput(
        line_no=line_no,
        quantity=quantity,
        amount_fen=amount_fen,
        category_slug=category,
        category_multiplier=Decimal(multiplier),
        carbon_saved_g_per_unit=carbon,
    )


@pytest.mark.parametrize(
    ("amount_fen", "rate", "multiplier", "expected"),
    [
        (100, 1, "1", 1),  # 1 yuan = 1 point
        (1280, 1, "1", 12),  # ¥12.80 -> 12: only whole yuan count
        (99, 1, "1", 0),  # under a yuan earns nothing
        (12800, 1, "1.5", 192),
        (1280, 1, "1.5", 18),  # 12 × 1.5 = 18
        (1380, 1, "1.5", 19),  # 13 × 1.5 = 19.5, floored at the end of the line
        (1000, 3, "1", 30),  # merchant rate 3 points per yuan
        (1000, 1, "0", 0),  # a category that earns nothing
    ],
)
def test_base_rate_and_category_multiplier(amount_fen, rate, multiplier, expected):
    assert earn(line(amount_fen, multiplier=multiplier), rate=rate).points == expected


def test_128_yuan_in_a_double_points_campaign_earns_256():
    result = earn(line(12800, category="notebooks"), campaigns=[campaign()])
    assert result.points == 256
    factors = result.breakdown()["lines"][0]["factors"]
    assert [f["rule"] for f in factors] == ["base", "campaign"]
    assert factors[1]["multiplier"] == "2"


def test_category_and_campaign_multiply():
    # ¥10 × 1.5 (category) × 2 (campaign) = 30
    assert (
        earn(line(1000, category="notebooks", multiplier="1.5"), campaigns=[campaign()]).points
        == 30
    )


def test_only_the_best_campaign_applies_unless_stackable():
    campaigns = [campaign(1, "2"), campaign(2, "3"), campaign(3, "1.5", stackable=True)]
    # 10 × 3 (best) × 1.5 (stackable) = 45
    assert earn(line(1000, category="notebooks"), campaigns=campaigns).points == 45


def test_campaigns_outside_their_dates_or_categories_do_not_apply():
    campaigns = [campaign(1, "2", ends=date(2026, 8, 31)), campaign(2, "5", categories=("pens",))]
    assert earn(line(1000, category="notebooks"), campaigns=campaigns).points == 10


def test_campaign_with_no_categories_applies_to_every_category():
    assert earn(line(1000, category="pens"), campaigns=[campaign(categories=())]).points == 20


def test_cap_per_order_limits_the_extra_points_across_lines():
    result = earn(
        line(10000, category="notebooks", line_no=1),  # +100 extra wanted, 50 allowed
        line(5000, category="notebooks", line_no=2),  # +50 wanted, nothing left
        campaigns=[campaign(cap=50)],
    )
    assert [item.points for item in result.lines] == [150, 50]


def test_green_points_are_one_per_100g_of_co2e_saved():
    result = earn(line(1280, category="notebooks", quantity=3, carbon=300))
    assert (result.green_points, result.carbon_saved_g) == (9, 900)
    assert earn(line(1280, quantity=1, carbon=150)).green_points == 1


def test_refund_shares_add_up_exactly_to_what_was_earned():
    total, quantity = 10, 3
    parts = [share_of(total, quantity, already, 1) for already in range(quantity)]
    assert sum(parts) == total and parts == [3, 3, 4]
    assert share_of(total, quantity, 0, 3) == 10
