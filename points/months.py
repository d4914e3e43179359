"""Month arithmetic and month parameters: the one home for both.

Every "plus N months", "the month after", "the last N months" goes through `add_months`
(dateutil's relativedelta: 31 Jan + 1 month = 28/29 Feb), and every month, year or page
typed by a person (URL parameter, form field, command argument) is read by the parsers
below, which refuse anything outside MIN_YEAR..MAX_YEAR with a translated message, so
arithmetic on a parsed value can never leave Python's date range.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from dateutil.relativedelta import relativedelta
from django.utils.translation import gettext as _

MIN_YEAR = 2000
MAX_YEAR = 2099  # a month typed by a person is refused beyond this, so month + 1 is safe
MAX_PAGE = 100_000

_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_YEAR = re.compile(r"^[0-9]{4}$")


class BadMonth(ValueError):
    """A month, year, date or page number that cannot be read; the message says why."""


def add_months(moment: date | datetime, months: int):
    """`moment` plus whole calendar months, clamping the day (31 Jan + 1 month = 28/29 Feb)."""
    return moment + relativedelta(months=months)


def month_start(day: date | datetime) -> date:
    return date(day.year, day.month, 1)


def next_month(first: date) -> date:
    return month_start(add_months(month_start(first), 1))


def months_back(last: date, count: int) -> list[date]:
    """`count` month starts ending with `last`'s month, oldest first."""
    first = month_start(last)
    return [add_months(first, -back) for back in range(count - 1, -1, -1)]


def _text(value) -> str:
    if not isinstance(value, str):
        raise BadMonth(_("Enter the value as text."))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise BadMonth(_("The value is not valid UTF-8 text.")) from error
    return value.strip()


def _year_in_range(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise BadMonth(
            _("The year must be between %(min)s and %(max)s.") % {"min": MIN_YEAR, "max": MAX_YEAR}
        )


def parse_month(value) -> date:
    """'2026-11' -> date(2026, 11, 1); BadMonth (translated) for anything else."""
    text = _text(value)
    match = _MONTH.match(text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise BadMonth(_("Enter a month as YYYY-MM, e.g. 2026-11."))
    _year_in_range(int(match.group(1)))
    return date(int(match.group(1)), int(match.group(2)), 1)


def parse_year(value) -> int:
    """'2026' -> 2026; BadMonth (translated) for anything else."""
    text = _text(value)
    if not _YEAR.match(text):
        raise BadMonth(_("Enter a year as YYYY, e.g. 2026."))
    _year_in_range(int(text))
    return int(text)


def parse_day(value, *, name: str = "") -> date:
    """'2026-11-01' -> a date; BadMonth (translated) otherwise."""
    text = _text(value)
    if re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            _year_in_range(day.year)
            return day
    message = _("Enter a date as YYYY-MM-DD, e.g. 2026-11-01.")
    raise BadMonth(f"{name}: {message}" if name else message)


def parse_page(value) -> int:
    """A page number typed in a URL: 1..MAX_PAGE; empty = 1."""
    if value in (None, ""):
        return 1
    text = _text(value)
    if not re.fullmatch(r"[0-9]{1,6}", text) or not 1 <= int(text) <= MAX_PAGE:
        raise BadMonth(_("Enter a page number between 1 and %(max)s.") % {"max": MAX_PAGE})
    return int(text)
