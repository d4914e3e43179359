"""Small given-steps for ledger tests: earn (credit) and spend (debit) through the service."""

import itertools

from points.models import Account, LedgerTransaction
from points.services.accounts import redemption_account
from points.services.ledger import Posting, ledger_post

_keys = itertools.count(1)


def key(prefix="k"):
    return f"{prefix}-{next(_keys)}"


def standard(member):
    return Account.objects.get(member=member, kind=Account.Kind.STANDARD)


def earn(member, issuer, points, **kwargs):
    kwargs.setdefault("idempotency_key", key("earn"))
    return ledger_post(
        kind=LedgerTransaction.Kind.EARN,
        postings=[Posting(standard(member), points), Posting(issuer, -points)],
        member=member,
        **kwargs,
    )


def spend(member, merchant, points, **kwargs):
    kwargs.setdefault("idempotency_key", key("spend"))
    return ledger_post(
        kind=LedgerTransaction.Kind.REDEEM,
        postings=[
            Posting(standard(member), -points),
            Posting(redemption_account(merchant), points),
        ],
        member=member,
        **kwargs,
    )


def reverse(original, points=None, **kwargs):
    """Reverse `original` (all of it, or `points` of its member entry)."""
    kwargs.setdefault("idempotency_key", key("reverse"))
    entries = list(original.entries.select_related("account"))
    member_entry = next(e for e in entries if e.account.is_member_account)
    other = next(e for e in entries if not e.account.is_member_account)
    amount = points if points is not None else abs(member_entry.points)
    sign = 1 if member_entry.points > 0 else -1
    kind = LedgerTransaction.Kind.REFUND if sign > 0 else LedgerTransaction.Kind.REDEEM_CANCEL
    return ledger_post(
        kind=kind,
        postings=[
            Posting(member_entry.account, -sign * amount),
            Posting(other.account, sign * amount),
        ],
        member=original.member,
        reverses=original,
        **kwargs,
    )


def buy(member, merchant, amount_fen, *, receipt_no=None, occurred_at=None, category="general"):
    """A real purchase through the purchase service: an earn with its document behind it."""
    from django.utils import timezone

    from merchants.models import Category
    from points.services.purchases import LineRequest, purchase_record

    Category.objects.get_or_create(
        merchant=merchant, slug=category, defaults={"name": category.title()}
    )
    return purchase_record(
        merchant=merchant,
        member=member,
        receipt_no=receipt_no or key("R"),
        occurred_at=occurred_at or timezone.now(),
        lines=[LineRequest(line_no=1, quantity=1, amount_fen=amount_fen, category=category)],
    )


def code_in(message) -> str:
    """The 6-digit code of a text message sent by points.sms (an SmsMessage or its dict)."""
    import re

    text = message["text"] if isinstance(message, dict) else message.text
    return re.search(r"验证码 (\d{6})", text).group(1)
