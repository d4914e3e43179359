"""Calendar periods (a month or a year, in Asia/Shanghai) and the parsing of their names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from django.utils import timezone


class BadPeriod(ValueError):
    """A month, year or date that cannot be read; the message says what is expected."""


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


def next_month(first: date) -> date:
    return date(first.year + (first.month == 12), first.month % 12 + 1, 1)


def months_back(last: date, count: int) -> list[date]:
    """`count` month starts ending with `last`'s month, oldest first."""
    months = [date(last.year, last.month, 1)]
    while len(months) < count:
        first = months[0]
        months.insert(0, date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1))
    return months


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^\d{4}$")


def _check_text(text) -> str:
    if not isinstance(text, str):
        raise BadPeriod("A period must be text.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise BadPeriod("The value is not valid UTF-8 text.") from error
    return text.strip()


def parse_month(text) -> Period:
    """'2026-11' -> the month of November 2026."""
    text = _check_text(text)
    match = _MONTH.match(text)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise BadPeriod(f"{text[:20]!r} is not a month; write YYYY-MM, e.g. 2026-11.")
    return Period("month", date(int(match.group(1)), int(match.group(2)), 1))


def parse_year(text) -> Period:
    """'2026' -> the year 2026."""
    text = _check_text(text)
    if not _YEAR.match(text) or not 2000 <= int(text) <= 9999:
        raise BadPeriod(f"{text[:20]!r} is not a year; write YYYY, e.g. 2026.")
    return Period("year", date(int(text), 1, 1))


def parse_day(text, *, name: str = "date") -> date:
    """'2026-11-01' -> a date; a clear BadPeriod otherwise."""
    text = _check_text(text)
    if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise BadPeriod(f"{name} {text[:20]!r} is not a date; write YYYY-MM-DD, e.g. 2026-11-01.")


def current_month() -> Period:
    today = timezone.localdate()
    return Period("month", date(today.year, today.month, 1))


def previous_month() -> Period:
    start = current_month().start
    return Period("month", months_back(start, 2)[0])
