import itertools

import pytest

from redemption.services.rewards import reward_create
from tests.points.helpers import earn

_titles = itertools.count(1)


@pytest.fixture
def make_reward(merchant):
    """A reward of `merchant` (500 points, worth ¥25: exactly the 5-fen floor) unless told."""

    def make(**fields):
        fields.setdefault("merchant", merchant)
        fields.setdefault("title", f"Reward {next(_titles)}")
        fields.setdefault("points_price", 500)
        fields.setdefault("face_value_fen", 2500)
        return reward_create(**fields)

    return make


@pytest.fixture
def funded_member(make_member, issuer):
    """A member holding `points` spendable points (one lot, never expiring unless told)."""

    def make(points=1000, **earn_kwargs):
        member = make_member()
        if points:
            earn(member, issuer, points, **earn_kwargs)
        return member

    return make
