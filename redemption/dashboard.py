"""The rewards section of the member dashboard: the savings projection and the next reward
within reach (registered with points.dashboard in RedemptionConfig.ready)."""

from django.utils import timezone

from points.dashboard import DashboardSection
from points.models import Member
from redemption.offer import dashboard_offer
from redemption.pricing import is_exchange_day
from redemption.selectors import member_redeem_blockers, pricing_day, savings_projection

DASHBOARD_REWARD_LIMIT = 200


def rewards_section(member: Member) -> dict:
    now = timezone.now()
    offer = dashboard_offer()  # the catalog is kept per process; the member's figures are not
    rewards = offer.available(now)[:DASHBOARD_REWARD_LIMIT]
    if not rewards:
        return {"next": None, "affordable": 0}
    prices = offer.prices(rewards, on=pricing_day(now))
    projections = savings_projection(member=member, rewards=rewards, prices=prices, now=now)
    # Sold out, limit reached, in debt: neither "within reach" nor "you can redeem it now".
    blocked = member_redeem_blockers(
        member, rewards, spendable=next(iter(projections.values())).balance
    )
    open_ones = [p for p in projections.values() if p.reward.pk not in blocked]
    waiting = sorted(
        (p for p in open_ones if p.shortfall > 0),
        key=lambda p: (p.shortfall, p.reward.pk),
    )
    return {
        "next": waiting[0] if waiting else None,
        "affordable": sum(1 for p in open_ones if p.shortfall == 0),
        "monthly_spend_fen": next(iter(projections.values())).monthly_spend_fen,
    }


SECTION = DashboardSection(
    name="rewards", template="redemption/_dashboard.html", context=rewards_section, order=50
)


def exchange_day_banner(member: Member) -> dict:
    """Today's exchange days (积分兑换日…) of merchants with rewards on offer; no query when
    the process already holds today's catalog."""
    offer = dashboard_offer()
    today = pricing_day()
    names = offer.merchant_names()
    events = [
        {"name": rule.name, "merchant": names[rule.merchant_id], "percent_off": rule.percent_off}
        for rule in offer.rules_on(today)
        if rule.active
        and rule.day_of_month
        and rule.merchant_id in names
        and is_exchange_day(rule.day_of_month, today)
    ]
    return {"events": events}


BANNER = DashboardSection(
    name="exchange_day",
    template="redemption/_exchange_day_banner.html",
    context=exchange_day_banner,
    order=10,
    placement="top",
)
