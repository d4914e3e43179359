"""The member card's code: the member number followed by the card's dynamic code (TOTP,
points/dynamic_code.py). The till scans or types it; it proves the member is there now."""

from __future__ import annotations

import re

from points import dynamic_code
from points.models import Member

# 10-digit member numbers (or the old M + 8 digits) followed by the 6-digit dynamic code.
CARD_CODE = re.compile(r"^(?P<member_no>[1-9][0-9]{9}|M[0-9]{8})(?P<code>[0-9]{6})$")
MAX_LENGTH = 16


def card_code_for(member: Member) -> str:
    """What the card shows now."""
    if not member.card_secret:  # a row inserted by raw SQL: give it its own secret once
        Member.objects.filter(pk=member.pk, card_secret="").update(
            card_secret=dynamic_code.secret_new()
        )
        member.card_secret = Member.objects.values_list("card_secret", flat=True).get(pk=member.pk)
    return member.member_no + dynamic_code.code_now(member.card_secret)


def card_code_split(card_code: str) -> tuple[str, str] | None:
    """(member_no, dynamic code) of a well-formed card code, else None."""
    if not isinstance(card_code, str) or len(card_code) > MAX_LENGTH:
        return None
    match = CARD_CODE.match(card_code)
    if match is None:
        return None
    return match["member_no"], match["code"]


def card_code_valid_for(member: Member, card_code: str) -> bool:
    """Whether `card_code` is `member`'s card code of this step or the previous one."""
    parts = card_code_split(card_code)
    if parts is None or parts[0] != member.member_no:
        return False
    return dynamic_code.code_verify(member.card_secret, parts[1])
