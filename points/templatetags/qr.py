"""{{ value|qr_svg }}: a QR code drawn server-side as inline SVG (no JavaScript, no image)."""

from functools import lru_cache

import segno
from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def qr_svg(value, scale=4):
    return mark_safe(_qr_svg(str(value), int(scale)))  # noqa: S308


# Encoding is a pure function of the text and costs about a millisecond; the dashboard draws
# the same member number on every visit, so each process keeps the most recent drawings.
@lru_cache(maxsize=1024)
def _qr_svg(text: str, scale: int) -> str:
    return segno.make(text, error="m").svg_inline(scale=scale, dark="#222", title=text)
