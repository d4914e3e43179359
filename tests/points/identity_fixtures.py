"""Fixtures shared by the identity tests (imported by them: pytest sees imported fixtures)."""

import pytest

from points.services.members import member_enrol
from tests.points.helpers import code_in

CARDLESS = "13700000001"
CARDED = "13700000002"


@pytest.fixture
def till_member(db):
    """A customer enrolled at a till (mobile proven there): no password yet."""
    member, _created = member_enrol(mobile=CARDED, actor="terminal:test")
    return member


@pytest.fixture
def last_code(sms_outbox):
    def read(mobile=None):
        texts = [m for m in sms_outbox if mobile is None or m.to == mobile]
        assert texts, "no text was sent"
        return code_in(texts[-1])

    return read
