"""Catalog writes: saving a reward (value floor checked, price history kept), activation."""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from redemption.models import Reward, RewardPriceChange
from redemption.offer import offer_forget

PRICE_FIELDS = ("points_price", "cash_price_fen", "face_value_fen")
# `reward_save(stock_loaded=...)` not given: the stock is written as the caller set it.
STOCK_AS_ENTERED = object()


def stock_after_edit(*, current: int | None, loaded: int | None, entered: int | None) -> int | None:
    """The stock to store when an editor who saw `loaded` enters `entered` and the stock is
    `current` now: an edit of a limited stock is the change the editor made (entered −
    loaded), applied to what is there now, so units redeemed meanwhile stay taken. Switching
    between limited and unlimited stores what was entered. Pure; raises `ValidationError`
    (on `stock`) when the change would take the stock below zero, or when it was made
    unlimited meanwhile."""
    if entered == loaded:
        return current
    if loaded is None or entered is None:
        return entered
    if current is None:
        raise ValidationError(
            {
                "stock": _(
                    "Since you opened this page the stock was made unlimited; "
                    "reload the page before changing it."
                )
            }
        )
    stock = current + (entered - loaded)
    if stock < 0:
        raise ValidationError(
            {
                "stock": _(
                    "Only %(left)s left in stock now (it was %(loaded)s when you opened this "
                    "page): you can remove at most %(left)s."
                )
                % {"left": current, "loaded": loaded}
            }
        )
    return stock


def reward_stock_locked(*, reward_pk: int) -> tuple[bool, int | None]:
    """Lock the reward row as an edit does and return (found, its current stock).

    FOR NO KEY UPDATE: it waits for the redemptions and cancels of a limited stock (locked
    for update, they change the stock) but not for those of an unlimited one (FOR KEY SHARE),
    so an edit of a popular unlimited reward does not queue behind a stream of redemptions.
    Must run inside the caller's transaction (the admin's form validation and save share one)."""
    stock = (
        Reward.objects.select_for_update(no_key=True, of=("self",))
        .filter(pk=reward_pk)
        .values_list("stock", flat=True)
    )
    found = list(stock)
    return (bool(found), found[0] if found else None)


def reward_save(
    *, reward: Reward, actor: str = "system", stock_loaded: int | None | object = STOCK_AS_ENTERED
) -> Reward:
    """Validate and save a reward; a new or changed price is added to its price history.

    `stock_loaded` is the stock the editor saw when the form was loaded (the admin passes
    it): `reward.stock` is then an edit relative to the stock as it is now
    (`stock_after_edit`), so redemptions made meanwhile are never written back; an unchanged
    stock is left as it is. Without it the stock is stored as set (new rewards, scripts).

    Raises `ValidationError` (with a clear message per field) when the price gives a point
    less than POINT_VALUE_FLOOR_FEN, or a stock edit would go below zero, so admin forms and
    other callers refuse it alike. Joins the caller's transaction (admin saves inside one).
    The row is locked FOR NO KEY UPDATE (`reward_stock_locked`), not FOR UPDATE.
    """
    reward.full_clean()
    with transaction.atomic():
        previous = None
        if reward.pk is not None:
            previous = (
                Reward.objects.select_for_update(no_key=True, of=("self",))
                .filter(pk=reward.pk)
                .values(*PRICE_FIELDS, "stock")
                .first()
            )
        if previous is not None:
            current_stock = previous.pop("stock")
            if stock_loaded is not STOCK_AS_ENTERED:
                reward.stock = stock_after_edit(
                    current=current_stock,
                    loaded=cast(int | None, stock_loaded),
                    entered=reward.stock,
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
