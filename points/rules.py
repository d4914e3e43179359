"""The earn-rules engine: pure functions, no database.

Per line: base = whole yuan paid × the merchant's points per yuan; × the category
multiplier; × the best active campaign (campaigns marked stackable multiply on top of it);
floored once, at the end of the line. A campaign's `cap_per_order` limits the extra points it
adds to one purchase. Green products also earn green points: one per 100 g CO₂e saved.
Multipliers are Decimals and points are integers: no float comes near a balance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal

RULES_VERSION = 1
GRAMS_PER_GREEN_POINT = 100
ONE = Decimal(1)


@dataclass(frozen=True)
class CampaignRule:
    id: int
    name: str
    multiplier: Decimal
    starts_on: date
    ends_on: date
    category_slugs: frozenset[str] = frozenset()  # empty = every category
    cap_per_order: int | None = None
    stackable: bool = False

    def applies_to(self, category_slug: str | None, on: date) -> bool:
        if not (self.starts_on <= on <= self.ends_on):
            return False
        return not self.category_slugs or category_slug in self.category_slugs


@dataclass(frozen=True)
class LineInput:
    line_no: int
    quantity: int
    amount_fen: int
    category_slug: str | None = None
    category_multiplier: Decimal = ONE
    carbon_saved_g_per_unit: int = 0  # 0 for anything that is not a green product


@dataclass
class LineEarn:
    line_no: int
    base: int
    points: int
    green_points: int
    carbon_saved_g: int
    factors: list[dict] = field(default_factory=list)

    def as_breakdown(self) -> dict:
        return {
            "line_no": self.line_no,
            "base": self.base,
            "factors": self.factors,
            "points": self.points,
            "green_points": self.green_points,
            "carbon_saved_g": self.carbon_saved_g,
        }


@dataclass
class EarnResult:
    lines: list[LineEarn]
    points_per_yuan: int

    @property
    def points(self) -> int:
        return sum(line.points for line in self.lines)

    @property
    def green_points(self) -> int:
        return sum(line.green_points for line in self.lines)

    @property
    def carbon_saved_g(self) -> int:
        return sum(line.carbon_saved_g for line in self.lines)

    def breakdown(self) -> dict:
        return {
            "rules_version": RULES_VERSION,
            "points_per_yuan": self.points_per_yuan,
            "lines": [line.as_breakdown() for line in self.lines],
            "points": self.points,
            "green_points": self.green_points,
        }


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def campaigns_for_line(
    campaigns: Iterable[CampaignRule], category_slug: str | None, on: date
) -> list[CampaignRule]:
    """The best non-stackable campaign (highest multiplier, then lowest id), then the stackable."""
    applicable = [c for c in campaigns if c.applies_to(category_slug, on)]
    exclusive = [c for c in applicable if not c.stackable]
    best = sorted(exclusive, key=lambda c: (-c.multiplier, c.id))[:1]
    return best + sorted((c for c in applicable if c.stackable), key=lambda c: c.id)


def green_points_for(carbon_saved_g: int) -> int:
    return carbon_saved_g // GRAMS_PER_GREEN_POINT


def earn_for_purchase(
    *,
    lines: Sequence[LineInput],
    points_per_yuan: int,
    campaigns: Sequence[CampaignRule] = (),
    on: date,
) -> EarnResult:
    """Points and green points for each line of one purchase, with every factor recorded."""
    extra_given: dict[int, Decimal] = {}
    result = []
    for line in sorted(lines, key=lambda item: item.line_no):
        base = (line.amount_fen // 100) * points_per_yuan
        factors: list[dict] = [
            {"rule": "base", "yuan": line.amount_fen // 100, "points_per_yuan": points_per_yuan}
        ]
        value = Decimal(base) * line.category_multiplier
        if line.category_multiplier != ONE:
            factors.append(
                {
                    "rule": "category",
                    "category": line.category_slug,
                    "multiplier": str(line.category_multiplier),
                }
            )
        for campaign in campaigns_for_line(campaigns, line.category_slug, on):
            extra = value * (campaign.multiplier - ONE)
            if campaign.cap_per_order is not None:
                room = Decimal(campaign.cap_per_order) - extra_given.get(campaign.id, Decimal(0))
                extra = max(Decimal(0), min(extra, room))
            extra_given[campaign.id] = extra_given.get(campaign.id, Decimal(0)) + extra
            value += extra
            factors.append(
                {
                    "rule": "campaign",
                    "campaign_id": campaign.id,
                    "name": campaign.name,
                    "multiplier": str(campaign.multiplier),
                    "extra": str(extra.quantize(Decimal("0.01"))),
                }
            )
        carbon = line.carbon_saved_g_per_unit * line.quantity
        result.append(
            LineEarn(
                line_no=line.line_no,
                base=base,
                points=max(0, _floor(value)),
                green_points=green_points_for(carbon),
                carbon_saved_g=carbon,
                factors=factors,
            )
        )
    return EarnResult(lines=result, points_per_yuan=points_per_yuan)


def share_of(total: int, quantity: int, already: int, now: int) -> int:
    """The part of `total` (earned on `quantity` units) that `now` more units take back when
    `already` were taken back before. Partial refunds add up exactly to the whole."""
    if quantity <= 0:
        return 0
    return (total * (already + now)) // quantity - (total * already) // quantity
