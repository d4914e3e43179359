"""Money shown to people: the one formatter (fen in, "¥120.60" out) and the one reader of
yuan typed into a form (text in, fen out). Integers only: no float comes near money.

`format_yuan` is the function; the template filter `yuan` ({% load money %}) and the admin's
money columns (`merchants.admin_money`) call it, so every page writes money the same way.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.utils.translation import gettext_lazy as _

MAX_FEN = 10**12  # ¥10 billion: far above any price or receipt, far below BigIntegerField


def format_yuan(fen, *, symbol: bool = True) -> str:
    """12060 -> "¥120.60"; -5 -> "-¥0.05"; not a number -> ""."""
    try:
        fen = int(fen)
    except (TypeError, ValueError):
        return ""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{'¥' if symbol else ''}{fen // 100}.{fen % 100:02d}"


_YUAN = re.compile(r"^\s*¥?\s*([0-9]{1,10})(?:\.([0-9]{1,2}))?\s*$")


def parse_yuan(text) -> int:
    """ "120.6" / "¥120.60" / "120" -> fen; ValueError for anything else."""
    match = _YUAN.match(str(text)) if text is not None else None
    if not match:
        raise ValueError(text)
    whole, cents = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(whole) * 100 + int(cents or 0)


def unit_free_label(label) -> str:
    """A model field's verbose name without its "(fen)" unit: the value says ¥ itself."""
    return re.sub(r"\s*[（(](?:分|fen)[）)]\s*$", "", str(label))


class YuanFormField(forms.CharField):
    """An amount typed in yuan (two decimals at most), cleaned to integer fen."""

    default_error_messages = {
        "invalid": _("Enter an amount in yuan, e.g. 12.80."),
        "too_big": _("The amount is too large."),
    }

    def __init__(self, *, min_fen: int | None = 0, max_fen: int = MAX_FEN, **kwargs):
        self.min_fen, self.max_fen = min_fen, max_fen
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, int):
            return format_yuan(value, symbol=False)
        return value

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            fen = parse_yuan(value)
        except (ValueError, InvalidOperation) as error:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from error
        if fen > self.max_fen or (self.min_fen is not None and fen < self.min_fen):
            raise forms.ValidationError(self.error_messages["too_big"], code="too_big")
        return fen


__all__ = ["Decimal", "YuanFormField", "format_yuan", "parse_yuan", "unit_free_label"]
