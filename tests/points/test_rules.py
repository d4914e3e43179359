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
        (1280, 1, "1", 12),  # ¥12.80 -> 12.8, floored once for the purchase
        (99, 1, "1", 0),  # a one-line purchase under a yuan earns nothing
        (12800, 1, "1.5", 192),
        (1280, 1, "1.5", 19),  # 12.80 × 1.5 = 19.2 -> 19 (the fen count, too)
        (1380, 1, "1.5", 20),  # 13.80 × 1.5 = 20.7 -> 20
        (1350, 3, "1", 40),  # 13.50 × 3 = 40.5 -> 40
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


@pytest.mark.parametrize(
    ("amounts_fen", "multiplier", "expected_total", "expected_lines"),
    [
        # The receipt rounding table: the purchase earns floor(sum of exact line points).
        ([219] * 5, "1", 10, [2, 2, 2, 2, 2]),  # 10.95 -> 10; per-line floors gave 5
        ([99] * 3, "1", 2, [0, 1, 1]),  # 2.97 -> 2: small lines add up
        ([150, 150], "1", 3, [1, 2]),  # 1.50 + 1.50 = 3
        ([1999, 1], "1", 20, [19, 1]),  # 19.99 + 0.01 = 20
        ([101, 101, 101], "1.5", 4, [1, 2, 1]),  # 1.515 × 3 = 4.545 -> 4
        ([219], "1", 2, [2]),  # one line: the same as before
    ],
)
def test_a_purchase_earns_the_floor_of_the_sum_of_its_lines(
    amounts_fen, multiplier, expected_total, expected_lines
):
    result = earn(
        *[
            line(amount, multiplier=multiplier, line_no=number)
            for number, amount in enumerate(amounts_fen, start=1)
        ]
    )
    assert result.points == expected_total
    assert [item.points for item in result.lines] == expected_lines
    assert sum(item.points for item in result.lines) == result.points
    assert result.breakdown()["points"] == expected_total


def test_five_lines_of_2_19_earn_10_points_and_each_line_refunds_exactly_its_share():
    result = earn(*[line(219, line_no=number) for number in range(1, 6)])
    assert result.points == 10
    # Refunding each line in turn takes back its whole share; all of them take back 10.
    assert [share_of(item.points, 1, 0, 1) for item in result.lines] == [2, 2, 2, 2, 2]


def test_green_points_floor_the_sum_of_the_lines_too():
    result = earn(line(500, quantity=1, carbon=150, line_no=1), line(500, carbon=150, line_no=2))
    assert (result.green_points, result.carbon_saved_g) == (3, 300)
    assert [item.green_points for item in result.lines] == [1, 2]


def test_refund_shares_add_up_exactly_to_what_was_earned():
    total, quantity = 10, 3
    parts = [share_of(total, quantity, already, 1) for already in range(quantity)]
    assert sum(parts) == total and parts == [3, 3, 4]
    assert share_of(total, quantity, 0, 3) == 10
