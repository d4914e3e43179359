"""Pure pricing: which schedule applies on a day, what a reward costs, and the value floor.

No database here: schedules arrive as `ScheduleRule` values, so every rule is unit-tested
without one. Integers only: points, fen, whole percentages.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext


@dataclass(frozen=True)
class ScheduleRule:
    """A price schedule as plain data.

    `day_of_month` set = a monthly exchange day (inside the optional start/end dates);
    unset = a seasonal discount over `starts_on`..`ends_on` (inclusive). No rewards and no
    categories = every reward of the merchant.
    """

    id: int
    name: str
    merchant_id: int
    percent_off: int
    starts_on: date | None = None
    ends_on: date | None = None
    day_of_month: int | None = None
    reward_ids: frozenset[int] = frozenset()
    category_ids: frozenset[int] = frozenset()
    active: bool = True


@dataclass(frozen=True)
class Price:
    """The points price of one unit on a given day, and the schedule that set it (if any)."""

    base_points: int
    points: int
    percent_off: int = 0
    schedule_id: int | None = None
    schedule_name: str = ""

    @property
    def discounted(self) -> bool:
        return self.points < self.base_points


def is_exchange_day(day_of_month: int, on: date) -> bool:
    """Day 29-31 falls on the last day of a shorter month, so every month has its day."""
    last = calendar.monthrange(on.year, on.month)[1]
    return on.day == min(day_of_month, last)


def schedule_applies(
    rule: ScheduleRule, *, reward_id: int, category_id: int | None, merchant_id: int, on: date
) -> bool:
    if not rule.active or rule.merchant_id != merchant_id:
        return False
    if rule.starts_on is not None and on < rule.starts_on:
        return False
    if rule.ends_on is not None and on > rule.ends_on:
        return False
    if rule.day_of_month is not None:
        if not is_exchange_day(rule.day_of_month, on):
            return False
    elif rule.starts_on is None or rule.ends_on is None:
        return False  # a seasonal discount without its date range applies nowhere
    if rule.reward_ids or rule.category_ids:
        return reward_id in rule.reward_ids or (
            category_id is not None and category_id in rule.category_ids
        )
    return True


def discounted_points(base_points: int, percent_off: int) -> int:
    """`base_points` less `percent_off`%, rounded in the merchant's favour, never below zero."""
    percent = min(max(percent_off, 0), 100)
    return max(base_points - base_points * percent // 100, 0)


def reward_price_on(
    *,
    base_points: int,
    reward_id: int,
    category_id: int | None,
    merchant_id: int,
    schedules: Iterable[ScheduleRule],
    on: date,
) -> Price:
    """The price on day `on`: the best applicable discount wins (ties: the older schedule)."""
    best: ScheduleRule | None = None
    for rule in schedules:
        if not schedule_applies(
            rule, reward_id=reward_id, category_id=category_id, merchant_id=merchant_id, on=on
        ):
            continue
        if best is None or (rule.percent_off, -rule.id) > (best.percent_off, -best.id):
            best = rule
    if best is None or best.percent_off <= 0:
        return Price(base_points=base_points, points=base_points)
    return Price(
        base_points=base_points,
        points=discounted_points(base_points, best.percent_off),
        percent_off=best.percent_off,
        schedule_id=best.id,
        schedule_name=best.name,
    )


def meets_value_floor(
    *, points_price: int, cash_price_fen: int, face_value_fen: int, floor_fen: int
) -> bool:
    """(face − cash) / points ≥ floor, in integers: each point is worth at least the floor."""
    if points_price <= 0:
        return False
    return face_value_fen - cash_price_fen >= floor_fen * points_price


def point_value_floor_error(
    *, points_price: int, cash_price_fen: int, face_value_fen: int, floor_fen: int
) -> str:
    """A clear message when a price breaks the floor, or "" when it is honest."""
    if meets_value_floor(
        points_price=points_price,
        cash_price_fen=cash_price_fen,
        face_value_fen=face_value_fen,
        floor_fen=floor_fen,
    ):
        return ""
    most = max((face_value_fen - cash_price_fen) // floor_fen, 0)
    return gettext(
        "Each point must be worth at least %(floor)s fen: (face value %(face)s − cash "
        "%(cash)s) ÷ %(points)s points is less. At this face value and cash price the "
        "points price can be at most %(most)s."
    ) % {
        "floor": floor_fen,
        "face": face_value_fen,
        "cash": cash_price_fen,
        "points": points_price,
        "most": most,
    }


def point_value_hundredths_of_fen(
    *, points_price: int, cash_price_fen: int, face_value_fen: int
) -> int:
    """What one point is worth at this price, in 1/100 fen (for display; floored)."""
    if points_price <= 0:
        return 0
    return max(face_value_fen - cash_price_fen, 0) * 100 // points_price
