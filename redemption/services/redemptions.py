"""Redeeming rewards, fulfilling and cancelling redemptions, using vouchers.

Lock order, everywhere: the reward row (for update when its stock is limited, else
FOR KEY SHARE: `_under_reward_lock`), then the redemption row, then the member's standard
account (the ledger locks it again, harmlessly, in the same transaction), then the win-back
offer being used. Points move only through `points.services.ledger` (`ledger_post`; the
common redemption, in two statements, through `ledger_debit_at_once`: see `_redeem_at_once`):

* redeem: member standard −P, `redemption:<merchant>` +P (kind "redeem");
* member or merchant cancel: the exact reverse, `reverses=` the redeem transaction, which
  gives back the very lots (and so the expiry dates) the redemption consumed;
* merchant cancel also credits compensation from `issuance:<merchant>` (kind "compensation").
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from merchants.models import Merchant
from points.models import Account, LedgerTransaction, Member, Notification
from points.selectors import spendable_balance
from points.services.accounts import issuance_account, redemption_account
from points.services.ledger import InsufficientPoints as LedgerInsufficientPoints
from points.services.ledger import Posting, ledger_debit_at_once, ledger_post
from points.services.notifications import member_notify
from points.statements import (
    AttachedWrite,
    compact,
    fetch_joined_with,
    from_json_row,
    from_json_rows,
    insert_fields,
    json_row,
    new_row,
    quote,
    saved_as,
    to_json,
)
from redemption.models import (
    MAX_QUANTITY_PER_REDEMPTION,
    PriceSchedule,
    Redemption,
    Reward,
    Voucher,
    WinBackOffer,
)
from redemption.pricing import Price, meets_value_floor
from redemption.selectors import member_units_held, prices_with_rules, pricing_day, reward_price
from redemption.services.errors import (
    InsufficientPoints,
    InvalidQuantity,
    InvalidRequest,
    LimitReached,
    NegativeBalance,
    NotCancellable,
    NotFulfillable,
    OfferNotValid,
    OutOfStock,
    PriceBelowFloor,
    RewardNotAvailable,
    VoucherNotUsable,
)

MAX_IDEMPOTENCY_KEY_LENGTH = 100
# No 0/O, 1/I/L: codes are read aloud and typed at a till. 16 of 31 symbols ≈ 79 bits.
VOUCHER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
VOUCHER_CODE_GROUPS = 4


def voucher_code_new() -> str:
    raw = "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(4 * VOUCHER_CODE_GROUPS))
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def _validated_quantity(quantity: object) -> int:
    if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY_PER_REDEMPTION:
        raise InvalidQuantity(
            _("Choose a quantity from 1 to %(most)s.") % {"most": MAX_QUANTITY_PER_REDEMPTION}
        )
    return quantity


def _validated_key(idempotency_key: object) -> str:
    if not isinstance(idempotency_key, str) or not (
        1 <= len(idempotency_key.strip()) <= MAX_IDEMPOTENCY_KEY_LENGTH
    ):
        raise InvalidRequest()
    return idempotency_key.strip()


def _replayed(redemption: Redemption) -> Redemption:
    redemption.replayed = True
    return redemption


def _locked_offer(
    offer: WinBackOffer, *, member: Member, reward: Reward, quantity: int, now: datetime
) -> WinBackOffer:
    """The offer row, locked, if `member` may use it on `reward` now; else OfferNotValid."""
    locked = WinBackOffer.objects.select_for_update().filter(pk=offer.pk).first()
    if locked is None or locked.member_id != member.pk:
        raise OfferNotValid(_("This offer is not yours."))
    if locked.reward_id != reward.pk:
        raise OfferNotValid(_("This offer is for another reward."))
    status = locked.status_at(now)
    if status == "used":
        raise OfferNotValid(_("This offer has already been used."))
    if status != "valid":
        raise OfferNotValid(_("This offer is not valid now: it has expired."))
    if quantity != 1:
        raise OfferNotValid(_("An exclusive offer is for one unit."))
    return locked


def reward_redeem(
    *,
    member: Member,
    reward: Reward,
    quantity: int,
    idempotency_key: str,
    actor: str = "member",
    now: datetime | None = None,
    offer: WinBackOffer | None = None,
) -> Redemption:
    """Redeem `quantity` units of `reward` for `member` at today's price; return the Redemption.

    With a win-back `offer`, one unit at the offer's personal points and cash price instead:
    only the offer's member, on its reward, inside its validity window, once (the offer is
    then linked to the redemption; cancelling that redemption does not free it again).

    A repeated `idempotency_key` (per member) returns the original redemption with
    `replayed = True` and changes nothing. Refusals (`RedemptionError` subclasses) write
    nothing: bad quantity, unavailable reward, an offer not usable by this member now, a
    price below the value floor, out of stock, the per-member limit, a negative balance,
    or too few spendable points.
    """
    quantity = _validated_quantity(quantity)
    key = _validated_key(idempotency_key)
    now = now or timezone.now()
    return _under_reward_lock(
        reward.stock,
        lambda exclusive: (
            (
                offer is None
                and _redeem_at_once(
                    member=member,
                    reward_id=reward.pk,
                    quantity=quantity,
                    key=key,
                    actor=actor,
                    now=now,
                    exclusive=exclusive,
                )
            )
            or _redeem(
                member=member,
                reward_id=reward.pk,
                quantity=quantity,
                key=key,
                actor=actor,
                now=now,
                offer=offer,
                exclusive=exclusive,
            )
        ),
    )


class _StockNowLimited(Exception):
    """The reward's stock is limited after all: nothing was written; lock it for update."""


def _under_reward_lock(stock_hint: int | None, attempt: Callable[[bool], Redemption]) -> Redemption:
    """`attempt(exclusive)`, a whole transaction that locks the reward with `_locked_reward`.

    Unlimited stock: the reward is only share-locked, so redemptions and cancels of a
    popular reward run side by side. Limited stock: locked for update, one at a time, as
    taking or giving back stock needs. Should the stock turn out limited under a share lock
    (it just changed), the attempt is rolled back and made again for update, rather than
    the lock upgraded (which deadlocks against a waiting edit)."""
    exclusive = stock_hint is not None
    while True:
        try:
            return attempt(exclusive)
        except _StockNowLimited:
            exclusive = True


def _locked_reward(pk: int, *, exclusive: bool) -> Reward | None:
    """The reward locked FOR UPDATE, or FOR KEY SHARE (it cannot be deleted or re-keyed
    meanwhile). Raises `_StockNowLimited` for a limited stock under a share lock."""
    if exclusive:
        # of=self: the model orders by merchant, a join that would lock the merchant row too
        # (every purchase there then waits for this redemption; it deadlocked with earns).
        return Reward.objects.select_for_update(of=("self",)).filter(pk=pk).first()
    table = connection.ops.quote_name(Reward._meta.db_table)
    found = Reward.objects.raw(f"SELECT * FROM {table} WHERE id = %s FOR KEY SHARE", [pk])
    reward = next(iter(found), None)
    if reward is not None and reward.stock is not None:
        raise _StockNowLimited()
    return reward


def _redeem(
    *,
    member: Member,
    reward_id: int,
    quantity: int,
    key: str,
    actor: str,
    now: datetime,
    offer: WinBackOffer | None,
    exclusive: bool,
) -> Redemption:
    with transaction.atomic(durable=True):
        existing = Redemption.objects.filter(member=member, idempotency_key=key).first()
        if existing is not None:
            return _replayed(existing)
        locked = _locked_reward(reward_id, exclusive=exclusive)
        if locked is None:
            raise RewardNotAvailable()
        # The member's account lock orders this member's redemptions (and earns): the
        # duplicate check, the per-member limit and the balance below see each other's work.
        account = Account.objects.select_for_update().get(member=member, kind=Account.Kind.STANDARD)
        # A concurrent duplicate may have committed while we waited for a lock.
        existing = Redemption.objects.filter(member=member, idempotency_key=key).first()
        if existing is not None:
            return _replayed(existing)
        if not locked.is_available(now):
            raise RewardNotAvailable()
        if offer is not None:
            offer = _locked_offer(offer, member=member, reward=locked, quantity=quantity, now=now)
        unit_cash_fen = offer.cash_price_fen if offer is not None else locked.cash_price_fen
        if not meets_value_floor(
            points_price=offer.points_price if offer is not None else locked.points_price,
            cash_price_fen=unit_cash_fen,
            face_value_fen=locked.face_value_fen,
            floor_fen=settings.POINT_VALUE_FLOOR_FEN,
        ):
            raise PriceBelowFloor()
        if locked.stock is not None and locked.stock < quantity:
            raise _out_of_stock(locked.stock)
        if locked.per_member_limit is not None:
            held = member_units_held(member, locked)
            if held + quantity > locked.per_member_limit:
                raise _limit_reached(locked.per_member_limit, held)
        if account.balance < 0:
            raise NegativeBalance()
        price = offer.as_price() if offer is not None else reward_price(locked, on=pricing_day(now))
        total = price.points * quantity
        if total > 0:
            available = spendable_balance(account, now=now)
            if available < total:
                raise _insufficient_points(total, available)
        redemption = _new_redemption(
            member=member,
            reward=locked,
            key=key,
            quantity=quantity,
            price=price,
            unit_cash_fen=unit_cash_fen,
            now=now,
        )
        try:
            with transaction.atomic():
                redemption.save()
        except IntegrityError:
            # The unique (member, key) index decided: a concurrent duplicate won.
            return _replayed(Redemption.objects.get(member=member, idempotency_key=key))
        if total > 0:
            try:
                txn = ledger_post(
                    kind=LedgerTransaction.Kind.REDEEM,
                    idempotency_key=_ledger_key(member, key),
                    postings=[
                        Posting(account, -total),
                        Posting(redemption_account(locked.merchant), total),
                    ],
                    merchant=locked.merchant,
                    member=member,
                    reference=f"{REFERENCE_PREFIX}{redemption.pk}",
                    reason=_ledger_reason(locked, quantity),
                    actor=actor,
                    breakdown=_ledger_breakdown(locked, quantity, price, offer),
                    now=now,
                )
            except LedgerInsufficientPoints as error:
                raise _insufficient_points(total, error.available) from error
            redemption.ledger_transaction = txn
            redemption.save(update_fields=["ledger_transaction"])
        if offer is not None:
            WinBackOffer.objects.filter(pk=offer.pk).update(redemption=redemption)
            offer.redemption = redemption
        if locked.stock is not None:
            Reward.objects.filter(pk=locked.pk).update(stock=F("stock") - quantity)
            locked.stock -= quantity
        if locked.kind == Reward.Kind.VOUCHER:
            valid_until = _voucher_valid_until(locked, now)
            Voucher.objects.bulk_create(
                [
                    Voucher(
                        redemption=redemption,
                        code=voucher_code_new(),
                        issued_at=now,
                        valid_until=valid_until,
                    )
                    for _unit in range(quantity)
                ]
            )
    redemption.replayed = False
    return redemption


# --- What both paths write and say ---------------------------------------------------------

REFERENCE_PREFIX = "redemption:"


def _out_of_stock(stock: int) -> OutOfStock:
    return OutOfStock(
        _("Sorry, this reward is out of stock.")
        if stock == 0
        else _("Not enough stock: at most %(left)s can be redeemed.") % {"left": stock}
    )


def _limit_reached(limit: int, held: int) -> LimitReached:
    return LimitReached(
        _("Each member may hold at most %(limit)s of this reward; you have %(held)s.")
        % {"limit": limit, "held": held}
    )


def _insufficient_points(needed: int, available: int) -> InsufficientPoints:
    return InsufficientPoints(
        _("This needs %(needed)s points; you have %(available)s.")
        % {"needed": needed, "available": available}
    )


def _new_redemption(
    *,
    member: Member,
    reward: Reward,
    key: str,
    quantity: int,
    price: Price,
    unit_cash_fen: int,
    now: datetime,
) -> Redemption:
    """The unsaved redemption at `price`, its pickup code drawn (goods and services)."""
    return Redemption(
        member=member,
        reward=reward,
        merchant_id=reward.merchant_id,
        idempotency_key=key,
        quantity=quantity,
        reward_title=reward.title,
        base_points_price=price.base_points,
        unit_points=price.points,
        points_total=price.points * quantity,
        percent_off=price.percent_off,
        schedule_id=price.schedule_id,
        schedule_name=price.schedule_name[:120],
        unit_cash_fen=unit_cash_fen,
        cash_due_fen=unit_cash_fen * quantity,
        face_value_fen=reward.face_value_fen,
        pickup_code=None if reward.kind == Reward.Kind.VOUCHER else voucher_code_new(),
        stock_taken=reward.stock is not None,
        created_at=now,
    )


def _ledger_key(member: Member, key: str) -> str:
    return f"redeem:{member.pk}:{key}"


def _ledger_reason(reward: Reward, quantity: int) -> str:
    return f"{reward.title} ×{quantity}"


def _ledger_breakdown(
    reward: Reward, quantity: int, price: Price, offer: WinBackOffer | None
) -> dict[str, Any]:
    return {
        "reward": reward.pk,
        "quantity": quantity,
        "base_points": price.base_points,
        "unit_points": price.points,
        "percent_off": price.percent_off,
        "schedule": price.schedule_id,
        **({"winback_offer": offer.pk} if offer is not None else {}),
    }


def _voucher_valid_until(reward: Reward, now: datetime) -> datetime:
    return now + timedelta(days=reward.validity_days or 0)


def redemption_cancel_by_member(
    *, redemption: Redemption, member: Member, now: datetime | None = None
) -> Redemption:
    """The member cancels their own confirmed, unused redemption: the exact lots come back
    (with their original expiry dates) and the stock is restored."""
    if redemption.member_id != member.pk:
        raise NotCancellable(_("This redemption is not yours."))
    return _cancel(
        redemption=redemption,
        by=Redemption.CancelledBy.MEMBER,
        reason=_("Cancelled by the member"),
        actor=f"member:{member.member_no}",
        compensate=False,
        now=now,
    )


def redemption_cancel_by_merchant(
    *, redemption: Redemption, reason: str, actor: str = "merchant", now: datetime | None = None
) -> Redemption:
    """The merchant cancels (e.g. it cannot deliver): the points come back as for a member
    cancel, and the member also receives compensation points in a separate transaction:
    `Merchant.cancel_compensation_percent` of the price, at least 1 (none when set to 0)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRequest(_("Give the member a reason for the cancellation."))
    return _cancel(
        redemption=redemption,
        by=Redemption.CancelledBy.MERCHANT,
        reason=reason,
        actor=actor,
        compensate=True,
        now=now,
    )


def compensation_points_for(points_total: int, percent: int) -> int:
    if percent <= 0:
        return 0
    return max(points_total * percent // 100, 1)


def _cancel(
    *,
    redemption: Redemption,
    by: str,
    reason: str,
    actor: str,
    compensate: bool,
    now: datetime | None,
) -> Redemption:
    now = now or timezone.now()
    known = redemption.reward if Redemption.reward.is_cached(redemption) else None
    return _under_reward_lock(
        getattr(known, "stock", None),
        lambda exclusive: _cancel_once(
            redemption=redemption,
            by=by,
            reason=reason,
            actor=actor,
            compensate=compensate,
            now=now,
            exclusive=exclusive,
        ),
    )


def _cancel_once(
    *,
    redemption: Redemption,
    by: str,
    reason: str,
    actor: str,
    compensate: bool,
    now: datetime,
    exclusive: bool,
) -> Redemption:
    with transaction.atomic(durable=True):
        reward = _locked_reward(redemption.reward_id, exclusive=exclusive)
        if reward is None:  # protected by the redemption's foreign key: never, in practice
            raise Reward.DoesNotExist()
        locked = (
            Redemption.objects.select_for_update(of=("self",))
            .select_related("merchant", "member__user", "ledger_transaction")
            .get(pk=redemption.pk)
        )
        if locked.status == Redemption.Status.CANCELLED:
            raise NotCancellable(_("This redemption is already cancelled."))
        if locked.status != Redemption.Status.CONFIRMED:
            raise NotCancellable(_("This redemption has been fulfilled and cannot be cancelled."))
        if locked.vouchers.filter(used_at__isnull=False).exists():
            raise NotCancellable(_("A voucher of this redemption has been used."))
        account = Account.objects.select_for_update().get(
            member_id=locked.member_id, kind=Account.Kind.STANDARD
        )
        merchant = locked.merchant
        if locked.ledger_transaction is not None:
            locked.cancel_transaction = ledger_post(
                kind=LedgerTransaction.Kind.REDEEM_CANCEL,
                idempotency_key=f"redeem_cancel:{locked.pk}",
                postings=[
                    Posting(account, locked.points_total),
                    Posting(redemption_account(merchant), -locked.points_total),
                ],
                merchant=merchant,
                member=locked.member,
                reference=f"redemption:{locked.pk}",
                reason=reason,
                actor=actor,
                reverses=locked.ledger_transaction,
                now=now,
            )
        if compensate:
            points = compensation_points_for(
                locked.points_total, merchant.cancel_compensation_percent
            )
            if points:
                locked.compensation_points = points
                locked.compensation_transaction = ledger_post(
                    kind=LedgerTransaction.Kind.COMPENSATION,
                    idempotency_key=f"redeem_compensation:{locked.pk}",
                    postings=[
                        Posting(account, points),
                        Posting(issuance_account(merchant), -points),
                    ],
                    merchant=merchant,
                    member=locked.member,
                    reference=f"redemption:{locked.pk}",
                    reason=reason,
                    actor=actor,
                    breakdown={
                        "percent": merchant.cancel_compensation_percent,
                        "of_points": locked.points_total,
                    },
                    now=now,
                )
        # Units go back only to a stock they were taken from: not to one that was unlimited
        # when the redemption was made (and none to a stock that is unlimited now).
        if reward.stock is not None and locked.stock_taken is not False:
            Reward.objects.filter(pk=reward.pk).update(stock=F("stock") + locked.quantity)
        locked.vouchers.filter(cancelled_at__isnull=True).update(cancelled_at=now)
        locked.status = Redemption.Status.CANCELLED
        locked.cancelled_at = now
        locked.cancelled_by = by
        locked.cancel_reason = str(reason)[:255]
        locked.save(
            update_fields=[
                "status",
                "cancelled_at",
                "cancelled_by",
                "cancel_reason",
                "cancel_transaction",
                "compensation_points",
                "compensation_transaction",
            ]
        )
        if by == Redemption.CancelledBy.MERCHANT:
            _notify_merchant_cancel(locked)
    return locked


MERCHANT_CANCEL_TITLE = gettext_lazy("%(merchant)s cancelled your redemption of %(reward)s")
MERCHANT_CANCEL_BODY = gettext_lazy(
    "Reason: %(reason)s. The %(points)s points you paid are back in your account, with their "
    "original expiry dates."
)
MERCHANT_CANCEL_COMPENSATION_BODY = gettext_lazy(
    "Reason: %(reason)s. The %(points)s points you paid are back in your account, with their "
    "original expiry dates, and you received %(compensation)s points as compensation."
)


def _notify_merchant_cancel(redemption: Redemption) -> None:
    member_notify(
        member=redemption.member,
        kind=Notification.Kind.REDEMPTION,
        title=MERCHANT_CANCEL_TITLE,
        body=MERCHANT_CANCEL_COMPENSATION_BODY
        if redemption.compensation_points
        else MERCHANT_CANCEL_BODY,
        params={
            "merchant": redemption.merchant.name,
            "reward": redemption.reward_title,
            "reason": redemption.cancel_reason,
            "points": redemption.points_total,
            "compensation": redemption.compensation_points,
        },
        link=_redemption_link(redemption),
        dedupe_key=f"redemption_cancel:{redemption.pk}",
    )


def _redemption_link(redemption: Redemption) -> str:
    return f"{reverse('my_redemptions')}#redemption-{redemption.pk}"


READY_TITLE = gettext_lazy("%(reward)s is ready for pickup")
READY_BODY = gettext_lazy(
    "Show pickup code %(code)s at %(store)s. %(address)s %(hours)s %(instructions)s"
)


def redemption_mark_ready(
    *, redemption: Redemption, actor: str = "merchant", now: datetime | None = None
) -> Redemption:
    """The merchant has the goods ready (or the service booked): the member is told to come
    with their pickup code. Marking a ready redemption ready again changes nothing."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        locked = (
            Redemption.objects.select_for_update(of=("self",))
            .select_related("reward__pickup_store", "member__user", "merchant")
            .get(pk=redemption.pk)
        )
        _check_fulfillable(locked)
        if locked.ready_at is not None:
            return locked
        locked.ready_at = now
        locked.save(update_fields=["ready_at"])
        store = locked.reward.pickup_store
        member_notify(
            member=locked.member,
            kind=Notification.Kind.PICKUP,
            title=READY_TITLE,
            body=READY_BODY,
            params={
                "reward": f"{locked.reward_title} ×{locked.quantity}",
                "code": locked.pickup_code,
                "store": store.name if store else locked.merchant.name,
                "address": store.address if store else "",
                "hours": store.opening_hours if store else "",
                "instructions": locked.reward.pickup_instructions,
            },
            link=_redemption_link(locked),
            dedupe_key=f"redemption_ready:{locked.pk}",
        )
    return locked


def _check_fulfillable(redemption: Redemption) -> None:
    if redemption.status != Redemption.Status.CONFIRMED:
        raise NotFulfillable(
            _("Only a confirmed redemption can be fulfilled; this one is %(status)s.")
            % {"status": redemption.get_status_display()}
        )
    if redemption.reward.kind == Reward.Kind.VOUCHER:
        raise NotFulfillable(_("A voucher redemption is fulfilled by marking its vouchers used."))


def redemption_fulfil(
    *, redemption: Redemption, actor: str = "merchant", now: datetime | None = None
) -> Redemption:
    """The merchant handed over the goods or performed the service (cash due was paid):
    the fulfilment queue's "handed over"."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        locked = (
            Redemption.objects.select_for_update(of=("self",))
            .select_related("reward")
            .get(pk=redemption.pk)
        )
        _check_fulfillable(locked)
        locked.status = Redemption.Status.FULFILLED
        locked.fulfilled_at = now
        locked.save(update_fields=["status", "fulfilled_at"])
    return locked


def voucher_use(
    *, voucher: Voucher, actor: str = "merchant", now: datetime | None = None
) -> Voucher:
    """Mark a valid voucher used; when all of a redemption's vouchers are used it is fulfilled.

    Valid means: not used, not cancelled, and before `valid_until` (any hour of the day).
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        redemption = (
            Redemption.objects.select_for_update(of=("self",))
            .select_related("member__user", "merchant")
            .get(pk=voucher.redemption_id)
        )
        locked = Voucher.objects.select_for_update().get(pk=voucher.pk)
        status = locked.status_at(now)
        if status != "valid" or redemption.status != Redemption.Status.CONFIRMED:
            raise VoucherNotUsable(
                _("Voucher %(code)s cannot be used: it is %(status)s.")
                % {"code": locked.code, "status": locked.status_label_at(now)}
            )
        locked.used_at = now
        locked.used_by = actor[:120]
        locked.save(update_fields=["used_at", "used_by"])
        if not redemption.vouchers.filter(used_at__isnull=True).exists():
            redemption.status = Redemption.Status.FULFILLED
            redemption.fulfilled_at = now
            redemption.save(update_fields=["status", "fulfilled_at"])
        member_notify(
            member=redemption.member,
            kind=Notification.Kind.REDEMPTION,
            title=VOUCHER_USED_TITLE,
            body=VOUCHER_USED_BODY,
            params={
                "code": locked.code,
                "reward": redemption.reward_title,
                "merchant": redemption.merchant.name,
                "time": timezone.localtime(now).strftime("%Y-%m-%d %H:%M"),
            },
            link=_redemption_link(redemption),
            dedupe_key=f"voucher_used:{locked.pk}",
        )
    return locked


VOUCHER_USED_TITLE = gettext_lazy("Voucher %(code)s was used")
VOUCHER_USED_BODY = gettext_lazy(
    "Your voucher for %(reward)s was used at %(merchant)s on %(time)s. If this was not you, "
    "please contact the merchant."
)


# --- The common redemption in two statements ----------------------------------------------
# A reward in stock (or unlimited), no win-back offer, a member who owes nothing, points to
# pay: the general path's eighteen to twenty-one statements become two, in one transaction
# (four round trips with its BEGIN and COMMIT):
#
# 1. lock the reward (FOR UPDATE when its stock is limited, else FOR KEY SHARE), then the
#    member's standard account FOR UPDATE, and read with them the reward's merchant, its
#    redemption account and the day's price schedules (the price is worked out in Python by
#    `redemption.pricing`, as on the general path);
# 2. after the locks, so in a snapshot that sees everything they order: the replay and
#    per-member checks, the debit (`ledger_debit_at_once`: lots soonest-expiring first, the
#    transaction, its entries and allocations, the balance) with the redemption, its stock
#    and vouchers attached, written only if every check passes.
#
# A refusal is decided from what the two statements saw, in the general path's order, with
# its exception and message; nothing has been written then. A replay, a zero price, a debt,
# a member or merchant without their account, or anything unexpected writes nothing and
# returns None: the general path (`_redeem`) then does it all as before.

_SCHEDULES_SQL = """
(SELECT coalesce(json_agg(json_build_array(
            s.id, s.display_kind, s.name, s.percent_off, s.starts_on, s.ends_on, s.day_of_month,
            ARRAY(SELECT r.reward_id FROM redemption_priceschedule_rewards r
                  WHERE r.priceschedule_id = s.id),
            ARRAY(SELECT c.category_id FROM redemption_priceschedule_categories c
                  WHERE c.priceschedule_id = s.id))), '[]')
   FROM redemption_priceschedule s
  WHERE s.merchant_id = reward.merchant_id AND s.active
    AND (s.starts_on IS NULL OR s.starts_on <= %s::date)
    AND (s.ends_on IS NULL OR s.ends_on >= %s::date))
"""

_LOCKS_SQL = """
WITH reward AS MATERIALIZED (
    SELECT * FROM redemption_reward WHERE id = %s::bigint {lock}
),
account AS MATERIALIZED (
    -- Locked after the reward (the order every redemption, cancel and edit keeps): the
    -- condition on `reward` is evaluated once, before the scan.
    SELECT * FROM points_account
    WHERE member_id = %s::bigint AND kind = %s::varchar AND (SELECT count(*) FROM reward) >= 0
    FOR UPDATE
)
"""

_LOCKS_FROM_SQL = """
FROM (SELECT 1) AS one
LEFT JOIN reward ON true
LEFT JOIN merchants_merchant merchant ON merchant.id = reward.merchant_id
LEFT JOIN account ON true
LEFT JOIN points_account spent ON spent.code = %s::varchar || merchant.slug
"""

_LOCKS_CHAIN = (
    (Reward, "reward"),
    (Merchant, "merchant"),
    (Account, "account"),
    (Account, "spent"),
)


@functools.cache
def _locks_statement(exclusive: bool) -> tuple[str, str, str]:
    # OF names the one table locked (as the general path's `select_for_update(of=...)`).
    lock = f'FOR {"UPDATE" if exclusive else "KEY SHARE"} OF "redemption_reward"'
    return (
        compact(_LOCKS_SQL.format(lock=lock)),
        compact(_SCHEDULES_SQL),
        compact(_LOCKS_FROM_SQL),
    )


def _locked_for_redeem(
    *, reward_id: int, member: Member, exclusive: bool, on: date
) -> tuple[Reward | None, Account | None, Account | None, list[Any]]:
    """Statement 1: the reward and then the member's standard account locked; the reward
    (its merchant attached), the account, the merchant's redemption account and the price
    schedules that could apply on `on` (None for what does not exist)."""
    with_sql, schedules_sql, from_sql = _locks_statement(exclusive)
    found = fetch_joined_with(
        _LOCKS_CHAIN,
        from_sql,
        [reward_id, member.pk, Account.Kind.STANDARD.value, on, on, REFERENCE_PREFIX],
        with_sql=with_sql,
        extra=[schedules_sql],
    )
    assert found is not None  # one row always: everything is LEFT JOINed to it
    (reward, merchant, account, spent), (schedules,) = found
    if reward.pk is None:
        return None, None, None, []
    assert isinstance(reward, Reward) and isinstance(merchant, Merchant)
    assert isinstance(account, Account) and isinstance(spent, Account)
    Reward.merchant.field.set_cached_value(reward, merchant)
    if isinstance(schedules, str):  # json, not jsonb: psycopg returns it parsed or as text
        schedules = json.loads(schedules)
    return (
        reward,
        account if account.pk is not None else None,
        spent if spent.pk is not None else None,
        schedules,
    )


def _price_from(reward: Reward, schedules: list[Any], on: date) -> Price:
    """`reward_price(reward, on=on)` from the schedules statement 1 read."""
    rules = [
        PriceSchedule(
            id=schedule_id,
            merchant_id=reward.merchant_id,
            display_kind=display_kind,
            name=name,
            percent_off=percent_off,
            starts_on=date.fromisoformat(starts_on) if starts_on else None,
            ends_on=date.fromisoformat(ends_on) if ends_on else None,
            day_of_month=day_of_month,
            active=True,
        ).as_rule(reward_ids=reward_ids or [], category_ids=category_ids or [])
        for (
            schedule_id,
            display_kind,
            name,
            percent_off,
            starts_on,
            ends_on,
            day_of_month,
            reward_ids,
            category_ids,
        ) in schedules
    ]
    return prices_with_rules([reward], rules=rules, on=on)[reward.pk]


_FACTS_SQL = compact("""
    SELECT EXISTS (SELECT 1 FROM redemption_redemption
                    WHERE member_id = %s::bigint AND idempotency_key = %s::varchar) AS replay,
           (SELECT coalesce(sum(quantity), 0) FROM redemption_redemption
             WHERE member_id = %s::bigint AND reward_id = %s::bigint
               AND status <> %s::varchar) AS held
""")

# The guard, after the lots' sum: no replay, the checks statement 1 allowed, the limit.
_REDEEM_ONLY_IF = compact("""
    NOT (SELECT replay FROM redeem_facts) AND %s::boolean
    AND coalesce((SELECT held FROM redeem_facts) + %s::bigint <= %s::bigint, true)
""")


@functools.cache
def _redeem_writes_sql() -> tuple[str, list[Any], str, list[Any], str]:
    """The redemption (with the reserved id and the posted transaction), its vouchers and its
    stock, as writes attached to the debit; once per process."""
    fields, columns = insert_fields(Redemption)
    values = ", ".join(
        "txn.id" if f.name == "ledger_transaction" else f"redeemed.{quote(f.column)}"
        for f in fields
    )
    redemption_sql = (
        f"INSERT INTO redemption_redemption (id, {columns}) "
        f"SELECT reserved.id, {values} FROM txn, reserved, "
        f"{from_json_row(Redemption, 'redeemed')} RETURNING id"
    )
    voucher_fields, voucher_columns = insert_fields(Voucher)
    voucher_values = ", ".join(
        "redemption.id" if f.name == "redemption" else f"voucher.{quote(f.column)}"
        for f in voucher_fields
    )
    vouchers_sql = (
        f"INSERT INTO redemption_voucher ({voucher_columns}) "
        f"SELECT {voucher_values} FROM redemption, {from_json_rows(Voucher, 'voucher')} "
        "ORDER BY voucher.ordinality"
    )
    stock_sql = (
        "UPDATE redemption_reward SET stock = redemption_reward.stock - %s::integer FROM txn "
        "WHERE redemption_reward.id = %s::bigint AND %s::boolean"
    )
    return redemption_sql, fields, vouchers_sql, voucher_fields, stock_sql


def _redeem_at_once(
    *,
    member: Member,
    reward_id: int,
    quantity: int,
    key: str,
    actor: str,
    now: datetime,
    exclusive: bool,
) -> Redemption | None:
    """Redeem in two statements (see above), or write nothing and return None."""
    try:
        with transaction.atomic(durable=True):
            return _redeem_in_two_statements(
                member=member,
                reward_id=reward_id,
                quantity=quantity,
                key=key,
                actor=actor,
                now=now,
                exclusive=exclusive,
            )
    except IntegrityError:
        # A unique code drawn twice, say: all of it is rolled back, and the general path
        # tries again from the start.
        return None


def _redeem_in_two_statements(
    *,
    member: Member,
    reward_id: int,
    quantity: int,
    key: str,
    actor: str,
    now: datetime,
    exclusive: bool,
) -> Redemption | None:
    on = pricing_day(now)
    reward, account, spent, schedules = _locked_for_redeem(
        reward_id=reward_id, member=member, exclusive=exclusive, on=on
    )
    if reward is None or account is None or spent is None:
        return None
    if not exclusive and reward.stock is not None:
        raise _StockNowLimited()
    price = _price_from(reward, schedules, on)
    total = price.points * quantity
    if total <= 0:
        return None
    available_now = reward.is_available(now)
    fair = meets_value_floor(
        points_price=reward.points_price,
        cash_price_fen=reward.cash_price_fen,
        face_value_fen=reward.face_value_fen,
        floor_fen=settings.POINT_VALUE_FLOOR_FEN,
    )
    in_stock = reward.stock is None or reward.stock >= quantity
    redemption = _new_redemption(
        member=member,
        reward=reward,
        key=key,
        quantity=quantity,
        price=price,
        unit_cash_fen=reward.cash_price_fen,
        now=now,
    )
    vouchers = (
        [
            new_row(
                Voucher,
                code=voucher_code_new(),
                issued_at=now,
                valid_until=_voucher_valid_until(reward, now),
            )
            for _unit in range(quantity)
        ]
        if reward.kind == Reward.Kind.VOUCHER
        else []
    )
    redemption_sql, fields, vouchers_sql, _voucher_fields, stock_sql = _redeem_writes_sql()
    debit = ledger_debit_at_once(
        kind=LedgerTransaction.Kind.REDEEM,
        idempotency_key=_ledger_key(member, key),
        postings=[Posting(account, -total), Posting(spent, total)],
        merchant=reward.merchant,
        member=member,
        reference=REFERENCE_PREFIX,
        reference_id_from=Redemption._meta.db_table,
        reason=_ledger_reason(reward, quantity),
        actor=actor,
        breakdown=_ledger_breakdown(reward, quantity, price, None),
        reads=[
            AttachedWrite(
                name="redeem_facts",
                sql=_FACTS_SQL,
                params=[
                    member.pk,
                    key,
                    member.pk,
                    reward.pk,
                    Redemption.Status.CANCELLED.value,
                ],
                returns="(SELECT ARRAY[replay::integer, held] FROM redeem_facts)",
            )
        ],
        only_if=(
            _REDEEM_ONLY_IF,
            [
                available_now and fair and in_stock and account.balance >= 0,
                quantity,
                reward.per_member_limit,
            ],
        ),
        attached=[
            AttachedWrite(
                name="redemption",
                sql=redemption_sql,
                params=[json_row(redemption, fields)],
                returns="(SELECT id FROM redemption)",
            ),
            AttachedWrite(name="vouchers", sql=vouchers_sql, params=[to_json(vouchers)]),
            AttachedWrite(
                name="stock",
                sql=stock_sql,
                params=[quantity, reward.pk, reward.stock is not None],
            ),
        ],
        now=now,
    )
    if debit.txn is None:
        replay, held = debit.returned["redeem_facts"]
        if replay:
            return None
        # The general path's refusals, in its order, from what was read under the locks.
        if not available_now:
            raise RewardNotAvailable()
        if not fair:
            raise PriceBelowFloor()
        if not in_stock:
            raise _out_of_stock(reward.stock or 0)
        limit = reward.per_member_limit
        if limit is not None and held + quantity > limit:
            raise _limit_reached(limit, held)
        if account.balance < 0:
            raise NegativeBalance()
        if debit.available < total:
            raise _insufficient_points(total, debit.available)
        return None  # the ledger key exists without its redemption: the general path
    saved_as(redemption, debit.returned["redemption"])
    redemption.ledger_transaction = debit.txn
    if reward.stock is not None:
        reward.stock -= quantity
    redemption.replayed = False
    return redemption
