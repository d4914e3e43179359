"""The one CSV writer of the product: UTF-8 with BOM, and no cell a spreadsheet runs.

A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (OWASP "CSV Injection"); such a cell is written with a
leading apostrophe, which spreadsheets show as text. A cell that already starts with an
apostrophe gets one more, so the rule is reversible: a reader drops exactly one leading
apostrophe from a text cell that starts with one (tools/verify_export.py does).
Numbers are written as numbers: -40 stays -40.

Every CSV the product writes (audit trail, points history, settlement, analytics, import
rejects, ...) goes through `csv_writer`; the apps import it from here (points is left of
redemption and reports, so they all may).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

BOM = "\ufeff"
BOM_BYTES = BOM.encode()
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "'")


def safe_cell(value: Any) -> Any:
    """`value` as a spreadsheet may show it: text that could start a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def unsafe_cell(text: str) -> str:
    """The inverse of `safe_cell` for a cell read back from our CSV as text."""
    return text[1:] if text.startswith("'") else text


class SafeWriter:
    """csv.writer whose every row goes through `safe_cell` (same writerow/writerows)."""

    def __init__(self, handle, **options):
        options.setdefault("lineterminator", "\r\n")
        self._writer = csv.writer(handle, **options)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([safe_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        writerow = self._writer.writerow
        for row in rows:
            writerow([safe_cell(cell) for cell in row])


def csv_writer(handle, *, bom: bool = False, **options) -> SafeWriter:
    """A safe CSV writer on a text `handle`; with `bom=True` the BOM is written first
    (Excel then reads the file as UTF-8, Chinese intact)."""
    if bom:
        handle.write(BOM)
    return SafeWriter(handle, **options)


def csv_bytes(rows: Iterable[Iterable[Any]], *, header: Iterable[Any] | None = None) -> bytes:
    """A whole small CSV document, BOM first, as bytes (for an HttpResponse)."""
    buffer = io.StringIO()
    writer = csv_writer(buffer, bom=True)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")
