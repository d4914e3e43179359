"""No-purchase bonuses (sign-up, first purchase), capped per member by compliance.

The first-purchase bonus follows real consumption: it is paid only for a first purchase of
at least POINTS_FIRST_PURCHASE_MIN_FEN ("首单满 20 元送 100 积分"), and a refund that takes
that purchase below the minimum takes the bonus back in the same database transaction.
"""

from __future__ import annotations

from fractions import Fraction

from django.conf import settings
from django.db.models import Sum

from points.models import Account, LedgerEntry, LedgerTransaction, Member
from points.services.accounts import issuance_account
from points.services.ledger import InsufficientPoints, Overdraft, Posting, ledger_post

SIGNUP = "signup"
FIRST_PURCHASE = "first_purchase"


def configured_bonus(kind: str) -> int:
    bonuses: dict[str, int] = {
        SIGNUP: settings.POINTS_SIGNUP_BONUS,
        FIRST_PURCHASE: settings.POINTS_FIRST_PURCHASE_BONUS,
    }
    return bonuses[kind]


def first_purchase_qualifies(total_fen: int) -> bool:
    """Whether a first purchase of `total_fen` earns the first-purchase bonus."""
    return total_fen >= settings.POINTS_FIRST_PURCHASE_MIN_FEN


def bonus_grant(
    *, member: Member, kind: str, actor: str = "system", purchase=None
) -> LedgerTransaction | None:
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
            **({"purchase": purchase.pk} if purchase is not None else {}),
        },
    )


def first_purchase_bonus_of(purchase) -> LedgerTransaction | None:
    """The first-purchase bonus `purchase` earned, if any (and not already reversed)."""
    bonus = LedgerTransaction.objects.filter(
        idempotency_key=f"bonus:{FIRST_PURCHASE}:{purchase.member_id}",
        breakdown__purchase=purchase.pk,
    ).first()
    if bonus is None or LedgerTransaction.objects.filter(reverses=bonus).exists():
        return None
    return bonus


def net_purchase_fen(purchase) -> Fraction:
    """What the purchase's lines still amount to after their refunds, exactly."""
    return sum(
        (
            Fraction(line.amount_fen * (line.quantity - line.refunded_quantity), line.quantity)
            for line in purchase.lines.all()
        ),
        Fraction(0),
    )


def bonus_reverse_if_unqualified(
    *, purchase, overdraft: Overdraft, actor: str = "system"
) -> LedgerTransaction | None:
    """Take back the first-purchase bonus once refunds leave `purchase` under the minimum.

    Joins the caller's (the refund's) transaction. Under `Overdraft.ALLOW` the member's
    balance may go negative, as for the refund itself; under `REFUSE` only what is left is
    taken (the refund policy for spent points applies to the bonus too).
    """
    if net_purchase_fen(purchase) >= settings.POINTS_FIRST_PURCHASE_MIN_FEN:
        return None
    bonus = first_purchase_bonus_of(purchase)
    if bonus is None:
        return None
    member_entry = bonus.entries.select_related("account").get(account__member__isnull=False)
    wanted = member_entry.points
    for _attempt in range(2):
        if wanted <= 0:
            return None
        try:
            return ledger_post(
                kind=LedgerTransaction.Kind.BONUS,
                idempotency_key=f"bonus_reversal:{FIRST_PURCHASE}:{purchase.member_id}",
                postings=[
                    Posting(member_entry.account, -wanted),
                    Posting(issuance_account(None), wanted),
                ],
                member=purchase.member,
                reason=f"{FIRST_PURCHASE} bonus reversed",
                actor=actor,
                reverses=bonus,
                overdraft=overdraft,
                breakdown={
                    "bonus": FIRST_PURCHASE,
                    "reversal": True,
                    "purchase": purchase.pk,
                    "points_due": member_entry.points,
                    "points": -wanted,
                    "minimum_fen": settings.POINTS_FIRST_PURCHASE_MIN_FEN,
                },
            )
        except InsufficientPoints as short:
            wanted = short.available  # cap_at_balance: only what the member still has
    return None
