"""The pure pricing function and the value floor: no database."""

from datetime import date

import pytest

from redemption.pricing import (
    ScheduleRule,
    discounted_points,
    is_exchange_day,
    meets_value_floor,
    point_value_floor_error,
    reward_price_on,
)

MERCHANT, REWARD, CATEGORY = 1, 10, 100
WINTER = ScheduleRule(
    id=1,
    name="寒假特惠",
    merchant_id=MERCHANT,
    percent_off=20,
    starts_on=date(2026, 1, 15),
    ends_on=date(2026, 2, 20),
    reward_ids=frozenset({REWARD}),
)
EXCHANGE_DAY = ScheduleRule(
    id=2, name="积分兑换日", merchant_id=MERCHANT, percent_off=10, day_of_month=18
)


def price(on, schedules, *, base=500, reward_id=REWARD, category_id=CATEGORY, merchant=MERCHANT):
    return reward_price_on(
        base_points=base,
        reward_id=reward_id,
        category_id=category_id,
        merchant_id=merchant,
        schedules=schedules,
        on=on,
    )


def test_seasonal_discount_takes_20_percent_off_inside_its_dates():
    result = price(date(2026, 1, 20), [WINTER])

    assert (result.points, result.percent_off, result.schedule_id) == (400, 20, WINTER.id)
    assert result.schedule_name == "寒假特惠" and result.discounted


@pytest.mark.parametrize("day", [date(2026, 1, 14), date(2026, 2, 21)])
def test_seasonal_discount_does_not_apply_outside_its_dates(day):
    assert price(day, [WINTER]).points == 500


def test_seasonal_dates_are_inclusive():
    assert price(date(2026, 1, 15), [WINTER]).points == 400
    assert price(date(2026, 2, 20), [WINTER]).points == 400


def test_exchange_day_applies_only_on_its_day_of_the_month():
    assert price(date(2026, 3, 18), [EXCHANGE_DAY]).points == 450
    assert price(date(2026, 3, 17), [EXCHANGE_DAY]).points == 500


def test_exchange_day_31_falls_on_the_last_day_of_shorter_months():
    rule = ScheduleRule(id=3, name="月末", merchant_id=MERCHANT, percent_off=10, day_of_month=31)

    assert price(date(2026, 2, 28), [rule]).points == 450
    assert price(date(2026, 4, 30), [rule]).points == 450
    assert price(date(2026, 4, 29), [rule]).points == 500
    assert is_exchange_day(31, date(2024, 2, 29))


def test_overlapping_schedules_the_best_discount_wins():
    # Given the winter break (20%) and an exchange day (10%) on the same day
    big_day = ScheduleRule(id=4, name="大促", merchant_id=MERCHANT, percent_off=30, day_of_month=18)

    # When both apply, 20% beats 10%
    assert price(date(2026, 1, 18), [EXCHANGE_DAY, WINTER]).schedule_id == WINTER.id
    # And a bigger exchange-day discount beats the season
    assert price(date(2026, 1, 18), [WINTER, EXCHANGE_DAY, big_day]).points == 350


def test_equal_discounts_pick_the_older_schedule():
    twin = ScheduleRule(id=9, name="twin", merchant_id=MERCHANT, percent_off=20, day_of_month=20)

    assert price(date(2026, 1, 20), [twin, WINTER]).schedule_id == WINTER.id


def test_a_full_discount_never_goes_below_zero():
    assert discounted_points(500, 100) == 0
    assert discounted_points(500, 150) == 0
    assert discounted_points(500, -5) == 500
    assert discounted_points(7, 50) == 4  # 3.5 off, rounded down: the point keeps its value


def test_schedules_target_rewards_or_categories_of_their_own_merchant():
    by_category = ScheduleRule(
        id=5,
        name="cat",
        merchant_id=MERCHANT,
        percent_off=25,
        day_of_month=1,
        category_ids=frozenset({CATEGORY}),
    )
    other_merchant = ScheduleRule(id=6, name="other", merchant_id=2, percent_off=50, day_of_month=1)
    day = date(2026, 5, 1)

    assert price(day, [by_category]).points == 375
    assert price(day, [by_category], category_id=999).points == 500
    assert price(day, [by_category], category_id=None).points == 500
    assert price(day, [WINTER], reward_id=11).points == 500
    assert price(day, [other_merchant]).points == 500


def test_inactive_or_dateless_seasonal_schedules_never_apply():
    inactive = ScheduleRule(
        id=7,
        name="off",
        merchant_id=MERCHANT,
        percent_off=50,
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        active=False,
    )
    dateless = ScheduleRule(id=8, name="nodates", merchant_id=MERCHANT, percent_off=50)

    assert price(date(2026, 6, 1), [inactive, dateless]).points == 500


def test_value_floor_accepts_exactly_five_fen_a_point_and_refuses_less():
    assert meets_value_floor(points_price=500, cash_price_fen=0, face_value_fen=2500, floor_fen=5)
    assert not meets_value_floor(
        points_price=501, cash_price_fen=0, face_value_fen=2500, floor_fen=5
    )


def test_value_floor_counts_only_the_part_not_paid_in_cash():
    # ¥300 item, ¥100 cash: ¥200 over 2,000 points = 10 fen a point
    assert meets_value_floor(
        points_price=2000, cash_price_fen=10000, face_value_fen=30000, floor_fen=5
    )
    assert not meets_value_floor(
        points_price=2000, cash_price_fen=25000, face_value_fen=30000, floor_fen=5
    )


def test_the_floor_message_says_what_is_wrong_and_the_most_points_allowed():
    message = point_value_floor_error(
        points_price=600, cash_price_fen=0, face_value_fen=2500, floor_fen=5
    )
    assert "500" in message
    assert (
        point_value_floor_error(
            points_price=500, cash_price_fen=0, face_value_fen=2500, floor_fen=5
        )
        == ""
    )
