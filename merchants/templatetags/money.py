"""{% load money %}: {{ fen|yuan }} -> "¥120.60" (merchants.money.format_yuan)."""

from django import template

from merchants.money import format_yuan

register = template.Library()


@register.filter
def yuan(fen) -> str:
    return format_yuan(fen)
