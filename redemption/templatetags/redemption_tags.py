"""Display helpers for money in fen and point values (integers in, text out)."""

from django import template

from merchants.money import format_yuan

register = template.Library()


@register.filter
def yuan(fen) -> str:
    """1280 → "¥12.80": the one money formatter (merchants.money.format_yuan)."""
    return format_yuan(fen)


@register.filter
def yuan_from_hundredths_of_fen(value) -> str:
    """A point's worth in 1/100 fen → yuan with four decimals: 500 → "0.0500"."""
    try:
        value = int(value)
    except (TypeError, ValueError):
        return ""
    return f"{value // 10000}.{value % 10000:04d}"
