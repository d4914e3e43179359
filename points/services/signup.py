"""Members who join on the website."""

from __future__ import annotations

from django.db import transaction

from points.models import LedgerTransaction, Member
from points.services.accounts import member_user_create
from points.services.bonuses import SIGNUP, bonus_grant


def member_sign_up(
    *, username: str, password: str, email: str = "", mobile: str | None = None
) -> tuple[Member, LedgerTransaction | None]:
    """Create the login, the member card and its accounts, and grant the capped sign-up bonus."""
    with transaction.atomic(durable=True):
        member = member_user_create(
            username=username, password=password, email=email, mobile=mobile
        )
        bonus = bonus_grant(member=member, kind=SIGNUP, actor=f"user:{member.user_id}")
    return member, bonus
