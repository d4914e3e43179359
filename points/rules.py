"""The earn-rules engine: pure functions, no database.

Per line, exactly (no rounding): base = yuan paid (fen / 100) × the merchant's points per
yuan; × the category multiplier; × the best active campaign (campaigns marked stackable
multiply on top of it). The purchase earns the floor of the SUM of its lines' exact points,
floored once per purchase (five lines of ¥2.19 earn 10 points, not 5). Each line is then
given a whole share of that total by cumulative floors (line i gets floor(sum up to i) −
floor(sum up to i−1)), so the lines add up exactly to the total and a refund takes back a
line's own share (`share_of`). A campaign's `cap_per_order` limits the extra points it adds
to one purchase. Green products also earn green points: one per 100 g CO₂e saved, by the
same sum-then-floor rule. Multipliers are Decimals and points are integers: no float comes
near a balance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal

RULES_VERSION = 2  # 2: floor of the sum of exact line points (1 floored per line)
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
    base: Decimal
    points: int
    green_points: int
    carbon_saved_g: int
    factors: list[dict] = field(default_factory=list)
    exact: str = "0"  # the line's exact points before the purchase-wide floor

    def as_breakdown(self) -> dict:
        return {
            "line_no": self.line_no,
            "base": str(self.base),
            "exact": self.exact,
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


def apportion_floor_of_sum(exact_values: Sequence[Decimal]) -> list[int]:
    """Whole shares of floor(sum(exact_values)), one per value, by cumulative floors: the
    shares add up exactly to the floor of the sum, each within one of its exact value."""
    shares, running, given = [], Decimal(0), 0
    for value in exact_values:
        running += max(value, Decimal(0))
        share = _floor(running) - given
        shares.append(share)
        given += share
    return shares


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
    ordered = sorted(lines, key=lambda item: item.line_no)
    exact_points: list[Decimal] = []
    line_factors: list[list[dict]] = []
    bases: list[Decimal] = []
    for line in ordered:
        base = Decimal(line.amount_fen) / 100 * points_per_yuan
        factors: list[dict] = [
            {
                "rule": "base",
                "yuan": f"{line.amount_fen // 100}.{line.amount_fen % 100:02d}",
                "points_per_yuan": points_per_yuan,
            }
        ]
        value = base * line.category_multiplier
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
        bases.append(base)
        exact_points.append(max(value, Decimal(0)))
        line_factors.append(factors)
    carbons = [line.carbon_saved_g_per_unit * line.quantity for line in ordered]
    points = apportion_floor_of_sum(exact_points)
    greens = apportion_floor_of_sum([Decimal(c) / GRAMS_PER_GREEN_POINT for c in carbons])
    result = [
        LineEarn(
            line_no=line.line_no,
            base=base,
            points=line_points,
            green_points=green,
            carbon_saved_g=carbon,
            factors=factors,
            exact=str(exact.quantize(Decimal("0.0001"))),
        )
        for line, base, exact, line_points, green, carbon, factors in zip(
            ordered, bases, exact_points, points, greens, carbons, line_factors, strict=True
        )
    ]
    return EarnResult(lines=result, points_per_yuan=points_per_yuan)


def share_of(total: int, quantity: int, already: int, now: int) -> int:
    """The part of `total` (earned on `quantity` units) that `now` more units take back when
    `already` were taken back before. Partial refunds add up exactly to the whole."""
    if quantity <= 0:
        return 0
    return (total * (already + now)) // quantity - (total * already) // quantity
