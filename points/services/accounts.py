"""Members and the accounts that hold their points."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from points.models import Account, Community, Member
from points.statements import hot_cursor

PLATFORM = "platform"

# System accounts are never changed or deleted once committed, and the write path never
# reads their cached balance, so each process remembers them: one round trip less per
# posting. Only committed rows are remembered (on_commit), so a rollback cannot leave a
# stale id behind.
_committed_system_accounts: dict[str, Account] = {}


def system_account(kind: str, merchant=None) -> Account:
    """The system account of `kind` (per merchant for issuance and redemption), created once."""
    if kind in Account.MEMBER_KINDS:
        raise ValueError("Member accounts are created with the member.")
    code = f"{kind}:{merchant.slug if merchant is not None else PLATFORM}"
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


def issuance_account(merchant=None) -> Account:
    return system_account(Account.Kind.ISSUANCE, merchant)


def redemption_account(merchant=None) -> Account:
    return system_account(Account.Kind.REDEMPTION, merchant)


def expiry_account() -> Account:
    return system_account(Account.Kind.EXPIRY)


def adjustment_account() -> Account:
    return system_account(Account.Kind.ADJUSTMENT)


def member_create(
    *,
    user,
    member_no: str | None = None,
    community: Community | None = None,
    mobile: str | None = None,
) -> Member:
    """Create a member with its standard and green accounts.

    Without `member_no` the number is derived from the primary key: M00000042.
    """
    with transaction.atomic():
        member = Member.objects.create(
            user=user,
            member_no=member_no or f"T{user.pk:011d}",
            community=community,
            mobile=mobile,
        )
        if member_no is None:
            member.member_no = f"M{member.pk:08d}"
            Member.objects.filter(pk=member.pk).update(member_no=member.member_no)
        Account.objects.bulk_create(
            [
                Account(code=f"member:{member.pk}:{kind}", kind=kind, member=member)
                for kind in Account.MEMBER_KINDS
            ]
        )
    return member


def member_accounts(member: Member) -> dict[str, Account]:
    return {account.kind: account for account in Account.objects.filter(member=member)}


# A member's accounts are created with the member and never change owner or kind, so each
# process remembers their ids (not their balances): the one-statement earn needs no read
# first. A wrong entry cannot do harm: that statement checks the ids belong to the member
# and writes nothing otherwise; the general path then reads the accounts and corrects it.
_member_account_ids: dict[int, dict[str, int]] = {}
MEMBER_ACCOUNT_IDS_KEPT = 200_000


def member_account_ids(member: Member) -> dict[str, int]:
    """{kind: account id} of the member's accounts (remembered per process)."""
    ids = _member_account_ids.get(member.pk)
    if ids is None:
        with hot_cursor() as cursor:
            cursor.execute(
                "SELECT kind, id FROM points_account WHERE member_id = %s::bigint", [member.pk]
            )
            ids = dict(cursor.fetchall())
        if len(_member_account_ids) >= MEMBER_ACCOUNT_IDS_KEPT:
            _member_account_ids.clear()
        _member_account_ids[member.pk] = ids
    return ids


def member_account_ids_remember(member: Member, accounts: dict[str, Account]) -> None:
    """Remember ids just read with the accounts (replacing what was remembered)."""
    _member_account_ids[member.pk] = {kind: account.pk for kind, account in accounts.items()}


def member_account_ids_forget(member: Member | None = None) -> None:
    if member is None:
        _member_account_ids.clear()
    else:
        _member_account_ids.pop(member.pk, None)


def member_user_create(*, username: str, password: str, email: str = "", **member_fields) -> Member:
    """Create a login and its member in one step (sign-up, demo data, tests)."""
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=username, password=password, email=email
        )
        return member_create(user=user, **member_fields)
