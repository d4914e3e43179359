"""The one definition of a valid purchase, used by the POS API, the CSV import and
`purchase_record` alike.

Each adapter parses its own input (JSON types, CSV text) into Python values and calls these
functions; they raise `InvalidPurchase` naming the field (`receipt_no`, `occurred_at`,
`lines`, `lines[2].amount_fen`, ...), which the adapter turns into its own error form (a 400
JSON error, a rejected file row, the exception itself for a service caller). Pure Python: no
database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from points.services.errors import InvalidPurchase

MAX_AMOUNT_FEN = 10**9  # one line, and the whole receipt: ten million yuan
MAX_QUANTITY = 100_000
MAX_LINES = 500
MAX_LINE_NO = 10_000
MAX_SKU_LENGTH = 64
MAX_CATEGORY_LENGTH = 60
RECEIPT_NO_MAX_LENGTH = 64
# A till's clock may run a little fast; more than this ahead is a wrong clock or a typo.
FUTURE_TOLERANCE = timedelta(minutes=5)
# Older than this is a wrong date (the platform did not exist), not a late receipt.
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)
# Receipt and refund numbers: letters, digits and . _ : / - (no spaces, no control
# characters), starting with a letter or a digit, at most 64 characters.
RECEIPT_NO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"
_RECEIPT_NO = re.compile(RECEIPT_NO_PATTERN.removesuffix("$") + r"\Z")
_CATEGORY = re.compile(r"[-a-zA-Z0-9_]+\Z")


@dataclass(frozen=True)
class LineRequest:
    """One line of a purchase as a till (or a file) reports it."""

    line_no: int
    quantity: int
    amount_fen: int
    sku: str | None = None
    category: str | None = None


def purchase_idempotency_key(merchant_id: int, receipt_no: str) -> str:
    """The ledger idempotency key of a purchase's earn: one receipt, one earn, whatever path."""
    return f"purchase:{merchant_id}:{receipt_no}"


def receipt_no_check(value: object, *, field: str = "receipt_no") -> str:
    """A receipt (or refund) number: `RECEIPT_NO_PATTERN`."""
    if not isinstance(value, str) or not value:
        raise InvalidPurchase(_("A receipt number is required."), field=field)
    if len(value) > RECEIPT_NO_MAX_LENGTH or not _RECEIPT_NO.match(value):
        raise InvalidPurchase(
            _(
                "A receipt number has 1 to 64 letters, digits or . _ : / - and starts "
                "with a letter or digit."
            ),
            field=field,
        )
    return value


def occurred_at_check(value: object, *, now: datetime | None = None) -> datetime:
    """When the purchase happened: an aware date-time, not before 2000, not more than
    `FUTURE_TOLERANCE` after `now`."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidPurchase(
            _("The time of purchase needs a date, a time and a UTC offset."), field="occurred_at"
        )
    try:  # year 1 at +08:00, year 9999 at -08:00: not a moment in UTC at all
        value.astimezone(UTC)
    except OverflowError:
        raise InvalidPurchase(
            _("The time of purchase is out of range."), field="occurred_at"
        ) from None
    if value < EARLIEST_OCCURRED_AT:
        raise InvalidPurchase(_("The time of purchase is before 2000."), field="occurred_at")
    if value > (now or timezone.now()) + FUTURE_TOLERANCE:
        raise InvalidPurchase(
            _("The time of purchase is more than 5 minutes in the future."), field="occurred_at"
        )
    return value


def whole_number_check(value: object, *, field: str, maximum: int, minimum: int = 1) -> int:
    """An integer (not a bool, not 12.0) from `minimum` to `maximum`."""
    if type(value) is not int:
        raise InvalidPurchase(_("Must be a whole number."), field=field)
    if not minimum <= value <= maximum:
        raise InvalidPurchase(
            _("Must be from %(minimum)s to %(maximum)s.")
            % {"minimum": minimum, "maximum": maximum},
            field=field,
        )
    return value


def line_check(line: LineRequest, *, index: int) -> None:
    """One line: its number, quantity and amount in range, exactly one of sku and category."""
    at = f"lines[{index}]"
    whole_number_check(line.line_no, field=f"{at}.line_no", maximum=MAX_LINE_NO)
    whole_number_check(line.quantity, field=f"{at}.quantity", maximum=MAX_QUANTITY)
    whole_number_check(line.amount_fen, field=f"{at}.amount_fen", maximum=MAX_AMOUNT_FEN)
    if bool(line.sku) == bool(line.category):
        raise InvalidPurchase(_("Give exactly one of sku and category."), field=f"{at}.sku")
    if line.sku is not None and (
        not isinstance(line.sku, str)
        or len(line.sku) > MAX_SKU_LENGTH
        or not line.sku.isprintable()
    ):
        raise InvalidPurchase(_("A SKU has at most 64 printable characters."), field=f"{at}.sku")
    if line.category is not None and (
        not isinstance(line.category, str)
        or len(line.category) > MAX_CATEGORY_LENGTH
        or not _CATEGORY.match(line.category)
    ):
        raise InvalidPurchase(
            _("A category is a slug of at most 60 letters, digits, - or _."),
            field=f"{at}.category",
        )


def lines_check(lines: Sequence[LineRequest]) -> None:
    """The lines of one receipt: 1 to `MAX_LINES`, each valid, line numbers unique, the
    total at most `MAX_AMOUNT_FEN`."""
    if not lines:
        raise InvalidPurchase(_("A purchase needs at least one line."), field="lines")
    if len(lines) > MAX_LINES:
        raise InvalidPurchase(
            _("A purchase has at most %(most)s lines.") % {"most": MAX_LINES}, field="lines"
        )
    for index, line in enumerate(lines):
        line_check(line, index=index)
    numbers = [line.line_no for line in lines]
    if len(numbers) != len(set(numbers)):
        raise InvalidPurchase(_("Each line number must appear once."), field="lines")
    if sum(line.amount_fen for line in lines) > MAX_AMOUNT_FEN:
        raise InvalidPurchase(_("The purchase total is implausibly large."), field="lines")


def purchase_check(
    *,
    receipt_no: object,
    occurred_at: object,
    lines: Sequence[LineRequest],
    now: datetime | None = None,
) -> None:
    """Raise `InvalidPurchase` (the first problem, with its field) unless the purchase is
    valid: the rules every way into the ledger shares."""
    receipt_no_check(receipt_no)
    occurred_at_check(occurred_at, now=now)
    lines_check(lines)
