"""Display helpers for money in fen and point values (integers in, text out)."""

from django import template

register = template.Library()


@register.filter
def yuan(fen) -> str:
    """1280 → "12.80" (integer arithmetic, no floats)."""
    try:
        fen = int(fen)
    except (TypeError, ValueError):
        return ""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


@register.filter
def yuan_from_hundredths_of_fen(value) -> str:
    """A point's worth in 1/100 fen → yuan with four decimals: 500 → "0.0500"."""
    try:
        value = int(value)
    except (TypeError, ValueError):
        return ""
    return f"{value // 10000}.{value % 10000:04d}"
