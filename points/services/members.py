"""Enrolling customers at the till by mobile number."""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from points.models import Member
from points.services.accounts import member_create
from points.services.bonuses import SIGNUP, bonus_grant

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


def member_enrol(*, mobile: str, actor: str = "system") -> tuple[Member, bool]:
    """Enrol a customer by mobile (with their consent, checked by the caller).

    The same mobile again answers the existing member: never a second member, never a second
    sign-up bonus. Returns (member, created).
    """
    mobile = normalise_mobile(mobile)
    existing = Member.objects.filter(mobile=mobile).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(
                username=f"m{mobile}-{secrets.token_hex(3)}", password=None
            )
            member = member_create(user=user, mobile=mobile)
            bonus_grant(member=member, kind=SIGNUP, actor=actor)
    except IntegrityError:  # enrolled by a concurrent request with the same mobile
        return Member.objects.get(mobile=mobile), False
    return member, True


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
