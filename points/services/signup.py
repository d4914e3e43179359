"""Members who join on the website (their mobile proven by an SMS code first)."""

from __future__ import annotations

from django.db import transaction

from points.models import LedgerTransaction, Member
from points.services.identity import member_join


def member_sign_up(
    *,
    mobile: str,
    username: str | None,
    password: str,
    email: str = "",
    client: str = "",
) -> tuple[Member, bool, LedgerTransaction | None]:
    """Create the login, the member card and its accounts for a proven mobile, and grant the
    capped sign-up bonus once per number ever. A number that already has a card gets that
    card back, unchanged (created=False)."""
    with transaction.atomic(durable=True):
        return member_join(
            mobile=mobile,
            username=username,
            password=password,
            email=email,
            actor="signup",
            client=client,
        )
