"""`{% first_purchase_offer %}`: the first-purchase bonus as members are told it
("首单满 20 元送 100 积分"), from the settings that decide it."""

from django import template
from django.conf import settings
from django.utils.translation import gettext as _

register = template.Library()


def yuan(fen: int) -> str:
    return f"{fen // 100}" if fen % 100 == 0 else f"{fen / 100:.2f}"


@register.simple_tag
def first_purchase_offer() -> str:
    """Empty when there is no first-purchase bonus."""
    points = min(settings.POINTS_FIRST_PURCHASE_BONUS, settings.POINTS_SIGNUP_BONUS_CAP)
    if points <= 0:
        return ""
    return _("First purchase of ¥%(yuan)s or more: %(points)s bonus points") % {
        "yuan": yuan(settings.POINTS_FIRST_PURCHASE_MIN_FEN),
        "points": points,
    }
