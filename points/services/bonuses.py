"""No-purchase bonuses (sign-up, first purchase), capped per member by compliance."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Sum

from points.models import Account, LedgerEntry, LedgerTransaction, Member
from points.services.accounts import issuance_account
from points.services.ledger import Posting, ledger_post

SIGNUP = "signup"
FIRST_PURCHASE = "first_purchase"


def configured_bonus(kind: str) -> int:
    bonuses: dict[str, int] = {
        SIGNUP: settings.POINTS_SIGNUP_BONUS,
        FIRST_PURCHASE: settings.POINTS_FIRST_PURCHASE_BONUS,
    }
    return bonuses[kind]


def bonus_grant(*, member: Member, kind: str, actor: str = "system") -> LedgerTransaction | None:
    """Grant the `kind` bonus once per member, never beyond POINTS_SIGNUP_BONUS_CAP in total.

    Joins the caller's transaction; the member's account row lock makes the cap hold under
    concurrency (two bonuses at once see each other).
    """
    wanted = configured_bonus(kind)
    if wanted <= 0:
        return None
    account = Account.objects.select_for_update().get(member=member, kind=Account.Kind.STANDARD)
    granted = (
        LedgerEntry.objects.filter(
            account=account, transaction__kind=LedgerTransaction.Kind.BONUS
        ).aggregate(total=Sum("points"))["total"]
        or 0
    )
    amount = min(wanted, settings.POINTS_SIGNUP_BONUS_CAP - granted)
    if amount <= 0:
        return None
    return ledger_post(
        kind=LedgerTransaction.Kind.BONUS,
        idempotency_key=f"bonus:{kind}:{member.pk}",
        postings=[Posting(account, amount), Posting(issuance_account(None), -amount)],
        member=member,
        reason=f"{kind} bonus",
        actor=actor,
        breakdown={
            "bonus": kind,
            "configured": wanted,
            "cap": settings.POINTS_SIGNUP_BONUS_CAP,
            "granted_before": granted,
            "points": amount,
        },
    )
