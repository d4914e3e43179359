"""Hostile input to the POS API (issue 11, part 4): schemathesis generates requests for
every operation of /api/v1/schema (bounded examples each), with a real terminal key; no
answer is a 5xx, every error is our JSON shape, and the ledger still verifies."""

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from points.card_code import card_code_for
from tests.conftest import assert_ledger_invariants
from tests.points.conftest import make_shop
from tests.reliability.conftest import EXAMPLES

KEY = "jf_schemathesis_key_0001"
TRIED: dict[str, int] = {}
STATUSES: dict[int, int] = {}


@pytest.fixture
def api_schema(db):
    # As Django's test client does: keep the test's connection (and its transaction) open.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/schema", WSGIHandler())
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def till_and_member(make_member):
    make_shop("fuzz", KEY)
    return make_member()


def real_member_sometimes(operation, member):
    """Half the cases name the real member (and show its card code where one is asked
    for), so requests get past the member lookup."""

    def swap(pair):
        case, use_real = pair
        if use_real and isinstance(case.body, dict) and "member_no" in case.body:
            case.body["member_no"] = member.member_no
            case.body.pop("card_code", None)  # a purchase names one of the two
        if use_real and "member_no" in (case.path_parameters or {}):
            case.path_parameters["member_no"] = member.member_no
            case.query = {**(case.query or {}), "card_code": card_code_for(member)}
        return case

    return st.tuples(operation.as_strategy(), st.booleans()).map(swap)


def fuzz_operation(operation, member):
    @given(case=real_member_sometimes(operation, member))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        response = case.call(headers={"Authorization": f"Bearer {KEY}"})
        TRIED[operation.label] = TRIED.get(operation.label, 0) + 1
        STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.method, case.path, response.text[:500])
        if response.status_code >= 400:
            error = response.json()["error"]
            assert set(error) == {"code", "message", "field"} and error["code"], error

    return fuzz


def test_no_generated_request_gets_a_5xx_or_breaks_the_ledger(api_schema, till_and_member):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 4  # purchases, refunds, members, balance (schema excluded)

    for operation in operations:
        fuzz_operation(operation, till_and_member)()
        assert_ledger_invariants()
    assert any(200 <= status < 300 for status in STATUSES), STATUSES
    print(
        f"\nschemathesis: {sum(TRIED.values())} requests, {len(TRIED)} operations: {TRIED}; "
        f"statuses {STATUSES}"
    )
