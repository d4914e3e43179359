"""The rewards on offer and their price rules as the member dashboard reads them, per process.

Every dashboard visit needs the catalog (rewards, their merchants, today's price schedules):
two ORM queries whose compilation cost more than the rest of the rewards section. The catalog
changes only when someone edits it, so each process keeps it and re-reads it when

* a reward, price schedule, merchant or category is saved or deleted, a schedule's rewards or
  categories change, or `reward_set_active` runs: the process making the change forgets it at
  once, and every process sees a new shared stamp (in the default cache) on its next visit
  (without REDIS_URL that cache is per process: the others wait for the TTL);
* `OFFER_TTL_SECONDS` have passed (a bulk `QuerySet.update()` elsewhere sends no signal).

Time windows are applied to each visit's own `now` (a reward whose `active_until` passes is
gone at once), and price rules are read for each pricing day. Balances are never kept here.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.cache import cache
from django.db import transaction

from merchants.models import Category, Merchant
from redemption.models import PriceSchedule, Reward
from redemption.pricing import Price, ScheduleRule

logger = logging.getLogger(__name__)

OFFER_TTL_SECONDS = 30.0
OFFER_STAMP_KEY = "redemption:offer-stamp"


@dataclass
class Offer:
    rewards: tuple[Reward, ...]  # active, of active merchants, any dates, in catalog order
    stamp: str | None
    loaded_at: float
    rules: dict[date, list[ScheduleRule]] = field(default_factory=dict)

    def available(self, now: datetime) -> list[Reward]:
        """`rewards_available(now=now)`, in its order."""
        return [
            r
            for r in self.rewards
            if (r.active_from is None or r.active_from <= now)
            and (r.active_until is None or r.active_until > now)
        ]

    def prices(self, rewards: list[Reward], *, on: date) -> dict[int, Price]:
        """`reward_prices(rewards, on=on)`, with the day's rules read once per process."""
        from redemption.selectors import prices_with_rules

        return prices_with_rules(rewards, rules=self.rules_on(on), on=on)

    def rules_on(self, on: date) -> list[ScheduleRule]:
        """The price rules that could apply on `on`, read once per process and day."""
        from redemption.selectors import schedule_rules

        if on not in self.rules:
            self.rules = {on: schedule_rules({r.merchant_id for r in self.rewards}, on=on)}
        return self.rules[on]

    def merchant_names(self) -> dict[int, str]:
        return {r.merchant_id: r.merchant.name for r in self.rewards}


_offer: Offer | None = None


def dashboard_offer() -> Offer:
    """The catalog, read again only after a change or OFFER_TTL_SECONDS."""
    global _offer
    stamp = _shared_stamp()
    offer = _offer
    if (
        offer is not None
        and offer.stamp == stamp
        and time.monotonic() - offer.loaded_at < OFFER_TTL_SECONDS
    ):
        return offer
    from redemption.selectors import rewards_on_offer

    loaded_at = time.monotonic()  # the stamp and the clock are read before the rows
    rewards = tuple(rewards_on_offer())
    _offer = Offer(rewards=rewards, stamp=stamp, loaded_at=loaded_at)
    return _offer


def offer_forget() -> None:
    """Forget the catalog here now and, once the change commits, in every process."""
    _forget_everywhere()
    # Another process may re-read the rows between the change and its commit: again after it.
    transaction.on_commit(_forget_everywhere)


def _forget_everywhere() -> None:
    global _offer
    _offer = None
    try:
        cache.set(OFFER_STAMP_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:  # the cache down must not fail an edit: other processes wait the TTL
        logger.warning("could not publish the rewards catalog change", exc_info=True)


def _shared_stamp() -> str | None:
    try:
        return cache.get(OFFER_STAMP_KEY)
    except Exception:  # the cache down must not fail the dashboard: read the catalog
        logger.warning("could not read the rewards catalog stamp", exc_info=True)
        return None


def _forget_on_change(sender, **kwargs) -> None:
    offer_forget()


def connect_signals() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_save

    for model in (Reward, PriceSchedule, Merchant, Category):
        post_save.connect(_forget_on_change, sender=model, dispatch_uid=f"offer-{model}-save")
        post_delete.connect(_forget_on_change, sender=model, dispatch_uid=f"offer-{model}-delete")
    for through in (PriceSchedule.rewards.through, PriceSchedule.categories.through):
        m2m_changed.connect(_forget_on_change, sender=through, dispatch_uid=f"offer-{through}")
