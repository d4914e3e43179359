"""Win-back offers: one personal price for each lapse of a member's activity.

A member has lapsed when their last activity — the latest of `Member.last_activity_at`
(earn, refund, import) and their latest redemption — is `WIN_BACK_AFTER_DAYS` old or more.
That moment is the offer's `lapse_started_at`; (member, lapse_started_at) is unique, so
repeated or concurrent runs make one offer per lapse, and a member who comes back and
lapses again later gets a new one. The offer is on a reward of the merchant where the
member made the most purchases (ties: the most recent), redeemed through `reward_redeem`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from merchants.money import format_yuan
from points.models import Member, Notification, Purchase
from points.services.notifications import notification_send
from redemption.models import Redemption, Reward, WinBackOffer
from redemption.pricing import Price, discounted_points, meets_value_floor
from redemption.selectors import (
    member_spendable_points,
    pricing_day,
    reward_prices,
    rewards_available,
)

BATCH_SIZE = 500


def lapsed_members(*, now: datetime) -> QuerySet[Member]:
    """Members with purchases whose last activity is old enough and has no offer yet.

    Annotated with `lapse_started_at`. One query; the caller reads it in batches.
    """
    cutoff = now - timedelta(days=settings.WIN_BACK_AFTER_DAYS)
    latest_redemption = (
        Redemption.objects.filter(member=OuterRef("pk"))
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    activity = Coalesce("last_activity_at", "joined_at")
    # The later of the last activity and the last redemption (if any).
    return (
        Member.objects.filter(user__is_active=True)
        .annotate(
            lapse_started_at=Greatest(activity, Coalesce(Subquery(latest_redemption), activity))
        )
        .filter(lapse_started_at__lte=cutoff)
        .filter(Exists(Purchase.objects.filter(member=OuterRef("pk"))))
        .exclude(
            Exists(
                WinBackOffer.objects.filter(
                    member=OuterRef("pk"), lapse_started_at=OuterRef("lapse_started_at")
                )
            )
        )
        .select_related("user")
        .order_by("pk")
    )


def most_used_merchants(member_ids: Iterable[int]) -> dict[int, int]:
    """member id → the merchant with most of their purchases (ties: the most recent)."""
    usage = (
        Purchase.objects.filter(member_id__in=list(member_ids))
        .values("member_id", "merchant_id")
        .annotate(purchases=Count("id"), latest=Max("occurred_at"))
    )
    best: dict[int, tuple[Any, ...]] = {}
    for row in usage:
        rank = (row["purchases"], row["latest"], row["merchant_id"])
        if row["member_id"] not in best or rank > best[row["member_id"]]:
            best[row["member_id"]] = rank
    return {member_id: rank[2] for member_id, rank in best.items()}


@dataclass(frozen=True)
class OfferTerms:
    reward: Reward
    list_points: int
    points: int
    percent_off: int
    cash_fen: int


def offer_terms(
    reward: Reward, price: Price, *, percent_off: int, floor_fen: int
) -> OfferTerms | None:
    """The personal price on `reward`, or None when it would break the value floor."""
    points = max(discounted_points(price.points, percent_off), 1)
    if not meets_value_floor(
        points_price=points,
        cash_price_fen=reward.cash_price_fen,
        face_value_fen=reward.face_value_fen,
        floor_fen=floor_fen,
    ):
        return None
    return OfferTerms(
        reward=reward,
        list_points=price.points,
        points=points,
        percent_off=percent_off,
        cash_fen=reward.cash_price_fen,
    )


def offer_terms_pick(
    candidates: Sequence[OfferTerms],
    *,
    spendable: int,
    floor_fen: int | None = None,
    topup_max_fen: int | None = None,
) -> OfferTerms | None:
    """The offer a member can actually take: among rewards reachable with their points plus a
    cash top-up of at most WINBACK_CASH_TOPUP_MAX_FEN (the points they lack, at the value
    floor's rate: 积分 + 少量现金), the cheapest they cannot afford at today's list price (the
    offer brings a goal closer); when they can afford every one, the dearest. The terms are
    returned with the top-up applied (fewer points, more cash); None when nothing is within
    reach."""
    floor_fen = settings.POINT_VALUE_FLOOR_FEN if floor_fen is None else floor_fen
    topup_max_fen = settings.WINBACK_CASH_TOPUP_MAX_FEN if topup_max_fen is None else topup_max_fen
    have = max(spendable, 0)

    def lacking(terms: OfferTerms) -> int:
        return max(terms.points - have, 0)

    reachable = [
        c
        for c in candidates
        if lacking(c) * floor_fen <= topup_max_fen and c.points - lacking(c) >= 1
    ]
    if not reachable:
        return None
    out_of_reach = [c for c in reachable if c.list_points > have]
    if out_of_reach:
        pick = min(out_of_reach, key=lambda c: (c.list_points, c.reward.pk))
    else:
        pick = max(reachable, key=lambda c: (c.list_points, -c.reward.pk))
    short = lacking(pick)
    if not short:
        return pick
    # Each point lacking is paid at the floor's rate, so the value floor still holds:
    # face − (cash + floor × short) ≥ floor × (points − short)  ⇔  face − cash ≥ floor × points.
    return replace(pick, points=pick.points - short, cash_fen=pick.cash_fen + short * floor_fen)


def winback_offer_create(
    *, member: Member, terms: OfferTerms, lapse_started_at: datetime, now: datetime
) -> WinBackOffer | None:
    """Make the offer and put it in the member's inbox, in one transaction.

    Returns None when this lapse already has an offer (another run won the unique index).
    """
    with transaction.atomic(durable=True):
        try:
            with transaction.atomic():
                offer = WinBackOffer.objects.create(
                    member=member,
                    reward=terms.reward,
                    list_points_price=terms.list_points,
                    points_price=terms.points,
                    percent_off=terms.percent_off,
                    cash_price_fen=terms.cash_fen,
                    lapse_started_at=lapse_started_at,
                    valid_from=now,
                    valid_until=now + timedelta(days=settings.WIN_BACK_OFFER_VALID_DAYS),
                    created_at=now,
                )
        except IntegrityError:
            return None
        title, body = _offer_message(offer)
        notification_send(
            member=member,
            kind=Notification.Kind.WIN_BACK,
            title=title,
            body=body,
            link=offer_link(offer),
            dedupe_key=f"winback:{offer.pk}",
        )
    return offer


def offer_link(offer: WinBackOffer) -> str:
    return f"/rewards/{offer.reward_id}/?offer={offer.pk}"


def _offer_message(offer: WinBackOffer) -> tuple[str, str]:
    reward = offer.reward
    until = timezone.localtime(offer.valid_until).strftime("%Y-%m-%d %H:%M")
    with translation.override(settings.LANGUAGE_CODE):
        title = _("An exclusive offer for you: %(title)s") % {"title": reward.title}
        body = _(
            "We miss you! %(title)s at %(merchant)s is yours for %(points)s points instead "
            "of %(list)s, only for you, until %(until)s."
        ) % {
            "title": reward.title,
            "merchant": reward.merchant.name,
            "points": offer.points_price,
            "list": offer.list_points_price,
            "until": until,
        }
        if offer.cash_price_fen:
            body += " " + _("Plus ¥%(cash)s paid at the merchant.") % {
                "cash": format_yuan(offer.cash_price_fen, symbol=False)
            }
    return title, body


def winback_offers_send(*, now: datetime | None = None) -> int:
    """Send one offer to every member who lapsed and has none for this lapse; return how many.

    Members are read in batches of `BATCH_SIZE` (a few queries per batch, plus the
    spendable balance per member); each offer and its notification commit together.
    A member whose most-used merchant has no available, in-stock reward gets nothing now
    and is considered again by the next run.
    """
    now = now or timezone.now()
    sent = 0
    batch: list[Member] = []
    for member in lapsed_members(now=now).iterator(chunk_size=BATCH_SIZE):
        batch.append(member)
        if len(batch) >= BATCH_SIZE:
            sent += _send_batch(batch, now=now)
            batch = []
    if batch:
        sent += _send_batch(batch, now=now)
    return sent


def _send_batch(members: Sequence[Member], *, now: datetime) -> int:
    merchant_of = most_used_merchants(m.pk for m in members)
    rewards = list(
        rewards_available(now=now)
        .filter(merchant_id__in=set(merchant_of.values()))
        .filter(Q(stock__isnull=True) | Q(stock__gt=0))
        .select_related("merchant")
    )
    prices = reward_prices(rewards, on=pricing_day(now))
    terms_by_merchant: dict[int, list[OfferTerms]] = {}
    for reward in rewards:
        terms = offer_terms(
            reward,
            prices[reward.pk],
            percent_off=settings.WIN_BACK_DISCOUNT_PERCENT,
            floor_fen=settings.POINT_VALUE_FLOOR_FEN,
        )
        if terms is not None:
            terms_by_merchant.setdefault(reward.merchant_id, []).append(terms)
    sent = 0
    for member in members:
        merchant_id = merchant_of.get(member.pk)
        candidates = terms_by_merchant.get(merchant_id, []) if merchant_id is not None else []
        terms = offer_terms_pick(candidates, spendable=member_spendable_points(member, now=now))
        if terms is None:  # nothing within reach of points + a small top-up: next run
            continue
        offer = winback_offer_create(
            member=member,
            terms=terms,
            lapse_started_at=member.lapse_started_at,  # type: ignore[attr-defined]
            now=now,
        )
        if offer is not None:
            sent += 1
    return sent
