"""Enrolling customers at the till by mobile number."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction

from points.models import Member

MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")


class InvalidMobile(ValueError):
    code = "invalid_mobile"


def normalise_mobile(raw: str) -> str:
    mobile = re.sub(r"[\s-]", "", raw or "")
    if mobile.startswith("+86"):
        mobile = mobile[3:]
    if not MAINLAND_MOBILE.match(mobile):
        raise InvalidMobile("A mainland China mobile number has 11 digits and starts with 13-19.")
    return mobile


def mask_mobile(mobile: str | None) -> str:
    """138****1234: how merchants see a member's mobile, everywhere."""
    if not mobile:
        return ""
    return f"{mobile[:3]}****{mobile[-4:]}"


def member_enrol(*, mobile: str, actor: str = "system", client: str = "") -> tuple[Member, bool]:
    """Enrol a customer by a mobile already proven by an SMS code (consent checked by the
    caller). The same mobile again answers the existing member: never a second member, never
    a second sign-up bonus. The login gets a generated username (never the mobile) and no
    password until the customer claims the card on the website. Returns (member, created).
    """
    from points.models import IdentityEvent
    from points.services.identity import member_join

    with transaction.atomic():
        member, created, _bonus = member_join(
            mobile=mobile,
            password=None,
            actor=actor,
            client=client,
            kind=IdentityEvent.Kind.TILL_ENROL,
        )
    return member, created


def member_language_set(*, user, language: str) -> bool:
    """Remember the language the member reads the site in, for the messages sent to them
    later (refunds, cancels, reminders). Unknown languages are ignored; returns whether a
    member's language changed."""
    if language not in {code for code, _name in settings.LANGUAGES}:
        return False
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(
        Member.objects.filter(user=user).exclude(language=language).update(language=language)
    )
