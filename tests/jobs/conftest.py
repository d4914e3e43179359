from datetime import timedelta

import pytest
from django.utils import timezone

from tests.points.helpers import earn, spend

# Each due member keeps the 40 points not yet due and the 10 that never expire.
LEFT_AFTER_EXPIRY = 50


@pytest.fixture
def due_members(make_member, issuer, merchant):
    """Five members, each with two lots past due, one not yet due and one that never
    expires; the third has spent 30 points, taken from its soonest-expiring lot."""
    past = timezone.now() - timedelta(days=1)
    future = timezone.now() + timedelta(days=20)
    members = []
    for n in range(5):
        member = make_member()
        earn(member, issuer, 100, expires_at=past - timedelta(days=n))
        earn(member, issuer, 50, expires_at=past)
        earn(member, issuer, 40, expires_at=future)
        earn(member, issuer, 10, expires_at=None)
        members.append(member)
    spend(members[2], merchant, 30, now=past - timedelta(days=5))
    return members
