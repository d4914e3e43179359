"""The rewards section of the member dashboard: the savings projection and the next reward
within reach (registered with points.dashboard in RedemptionConfig.ready)."""

from points.dashboard import DashboardSection
from points.models import Member
from redemption.selectors import pricing_day, reward_prices, rewards_available, savings_projection

DASHBOARD_REWARD_LIMIT = 200


def rewards_section(member: Member) -> dict:
    rewards = list(rewards_available()[:DASHBOARD_REWARD_LIMIT])
    if not rewards:
        return {"next": None, "affordable": 0}
    prices = reward_prices(rewards, on=pricing_day())
    projections = savings_projection(member=member, rewards=rewards, prices=prices)
    waiting = sorted(
        (p for p in projections.values() if p.shortfall > 0),
        key=lambda p: (p.shortfall, p.reward.pk),
    )
    return {
        "next": waiting[0] if waiting else None,
        "affordable": sum(1 for p in projections.values() if p.shortfall == 0),
        "monthly_spend_fen": next(iter(projections.values())).monthly_spend_fen,
    }


SECTION = DashboardSection(
    name="rewards", template="redemption/_dashboard.html", context=rewards_section, order=50
)
