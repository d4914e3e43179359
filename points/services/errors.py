"""Domain errors of earning and refunding. They know nothing of HTTP: each adapter (the POS
API, the CSV import, a page) turns them into its own answer (`points.api.ERROR_STATUS`)."""

from __future__ import annotations


class EarnError(Exception):
    """A purchase or refund that cannot be recorded; nothing has been written.

    `code` is a stable machine name, `field` the input the error is about (a JSON path like
    `lines[0].amount_fen`), when one is.
    """

    code = "invalid"
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field or self.field


class InvalidPurchase(EarnError):
    """A purchase that breaks `points.services.purchase_validation`'s rules."""

    code = "invalid"
