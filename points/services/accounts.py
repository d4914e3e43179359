"""Members and the accounts that hold their points."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from merchants.models import Merchant
from points.member_numbers import member_no_new
from points.models import Account, Community, Member

PLATFORM = "platform"

# System accounts are never changed or deleted once committed, and the write path never
# reads their cached balance, so each process remembers them: one round trip less per
# posting. Only committed rows are remembered (on_commit), so a rollback cannot leave a
# stale id behind.
_committed_system_accounts: dict[str, Account] = {}


def system_account(kind: str, merchant: Merchant | None = None) -> Account:
    """The system account of `kind` (per merchant for issuance and redemption), created once."""
    if kind in Account.MEMBER_KINDS:
        raise ValueError("Member accounts are created with the member.")
    code = f"{kind}:{merchant.slug if merchant is not None else PLATFORM}"
    return _system_account_by_code(code, kind, merchant)


def _system_account_by_code(code: str, kind: str, merchant: Merchant | None = None) -> Account:
    cached = _committed_system_accounts.get(code)
    if cached is not None:
        return cached
    account = Account.objects.filter(code=code).first()
    if account is None:
        try:
            with transaction.atomic():
                account = Account.objects.create(code=code, kind=kind, merchant=merchant)
        except IntegrityError:  # created by a concurrent request in the meantime
            account = Account.objects.get(code=code)
    transaction.on_commit(lambda: _committed_system_accounts.setdefault(code, account))
    return account


def issuance_account(merchant: Merchant | None = None) -> Account:
    return system_account(Account.Kind.ISSUANCE, merchant)


def redemption_account(merchant: Merchant | None = None) -> Account:
    return system_account(Account.Kind.REDEMPTION, merchant)


def expiry_account() -> Account:
    return system_account(Account.Kind.EXPIRY)


def adjustment_account() -> Account:
    return system_account(Account.Kind.ADJUSTMENT)


def community_activity_account(community: Community) -> Account:
    """The account a community issues its activities' green points from."""
    kind = Account.Kind.ACTIVITY_ISSUANCE
    return _system_account_by_code(f"{kind}:community-{community.pk}", kind)


def member_create(
    *,
    user: Any,
    member_no: str | None = None,
    community: Community | None = None,
    mobile: str | None = None,
) -> Member:
    """Create a member with its standard and green accounts.

    Without `member_no` the number is random, 10 digits with a Luhn check digit
    (points/member_numbers.py): it says nothing about how many members there are.
    """
    with transaction.atomic():
        while member_no is None:
            candidate = member_no_new()
            if not Member.objects.filter(member_no=candidate).exists():
                member_no = candidate
        member = Member.objects.create(
            user=user,
            member_no=member_no,
            community=community,
            mobile=mobile,
        )
        Account.objects.bulk_create(
            [
                Account(code=member_account_code(member.pk, kind), kind=kind, member=member)
                for kind in Account.MEMBER_KINDS
            ]
        )
    return member


def member_accounts(member: Member) -> dict[str, Account]:
    return {account.kind: account for account in Account.objects.filter(member=member)}


def member_account_code(member_id: int, kind: str) -> str:
    """The code of a member's account: fixed when the member is created, never changed."""
    return f"member:{member_id}:{kind}"


def member_user_create(
    *, username: str, password: str, email: str = "", **member_fields: Any
) -> Member:
    """Create a login and its member in one step (sign-up, demo data, tests)."""
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=username, password=password, email=email
        )
        return member_create(user=user, **member_fields)
