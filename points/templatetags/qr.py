"""{{ value|qr_svg }}: a QR code drawn server-side as inline SVG (no JavaScript, no image)."""

import segno
from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def qr_svg(value, scale=4):
    code = segno.make(str(value), error="m")
    return mark_safe(code.svg_inline(scale=int(scale), dark="#222", title=str(value)))  # noqa: S308
