"""Calendar periods (a month or a year, in Asia/Shanghai) and the parsing of their names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from django.utils import timezone

from points.months import BadMonth, months_back, next_month, parse_day
from points.months import parse_month as parse_month_start
from points.months import parse_year as parse_year_number

__all__ = ["BadPeriod", "Period", "months_back", "next_month", "parse_day", "parse_month"]


# One month helper and one month-parameter parser for the whole site (points.months); a bad
# month here is the same exception, with the same translated message.
BadPeriod = BadMonth


@dataclass(frozen=True)
class Period:
    kind: str  # "month" or "year"
    start: date

    @property
    def end(self) -> date:
        """The first day after the period (exclusive)."""
        if self.kind == "year":
            return date(self.start.year + 1, 1, 1)
        return next_month(self.start)

    @property
    def label(self) -> str:
        return f"{self.start:%Y}" if self.kind == "year" else f"{self.start:%Y-%m}"

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return day_start(self.start), day_start(self.end)

    @property
    def months(self) -> list[date]:
        """The first day of every month in the period."""
        if self.kind == "month":
            return [self.start]
        return [date(self.start.year, m, 1) for m in range(1, 13)]


def day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the site's time zone (Asia/Shanghai)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def parse_month(text) -> Period:
    """'2026-11' -> the month of November 2026."""
    return Period("month", parse_month_start(text))


def parse_year(text) -> Period:
    """'2026' -> the year 2026."""
    return Period("year", date(parse_year_number(text), 1, 1))


def current_month() -> Period:
    today = timezone.localdate()
    return Period("month", date(today.year, today.month, 1))


def previous_month() -> Period:
    start = current_month().start
    return Period("month", months_back(start, 2)[0])
