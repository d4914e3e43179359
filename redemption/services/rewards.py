"""Catalog writes: saving a reward (value floor checked, price history kept), activation."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from redemption.models import Reward, RewardPriceChange
from redemption.offer import offer_forget

PRICE_FIELDS = ("points_price", "cash_price_fen", "face_value_fen")


def reward_save(*, reward: Reward, actor: str = "system") -> Reward:
    """Validate and save a reward; a new or changed price is added to its price history.

    Raises `ValidationError` (with a clear message per field) when the price gives a point
    less than POINT_VALUE_FLOOR_FEN, so admin forms and other callers refuse it alike.
    Joins the caller's transaction (admin saves inside one).
    """
    reward.full_clean()
    with transaction.atomic():
        previous = None
        if reward.pk is not None:
            previous = (
                Reward.objects.select_for_update(of=("self",))
                .filter(pk=reward.pk)
                .values(*PRICE_FIELDS)
                .first()
            )
        reward.save()
        current = {name: getattr(reward, name) for name in PRICE_FIELDS}
        if previous != current:
            RewardPriceChange.objects.create(
                reward=reward, changed_at=timezone.now(), changed_by=actor[:120], **current
            )
    return reward


def reward_create(*, actor: str = "system", **fields: Any) -> Reward:
    """Create a reward through `reward_save` (validation and the first price-history row)."""
    return reward_save(reward=Reward(**fields), actor=actor)


def reward_set_active(*, reward: Reward, active: bool) -> Reward:
    """Show or hide a reward in the catalog; redemptions already made are unaffected."""
    Reward.objects.filter(pk=reward.pk).update(active=active, updated_at=timezone.now())
    offer_forget()  # update() sends no signal
    reward.active = active
    return reward
