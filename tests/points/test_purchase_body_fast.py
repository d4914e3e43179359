"""The POS purchase body's fast parser equals the serializer it stands in for (issue 22, item 3).

`purchase_body_fast` must return exactly `PurchaseSerializer`'s validated data, or None and
leave the answer (errors included) to the serializer; where the purchase rules refuse the
body, both raise the same `InvalidPurchase`. Hypothesis builds well-formed bodies and then
breaks them one field at a time (wrong types, null, blanks, spaces, huge and negative
numbers, non-ASCII and control characters, unknown keys)."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from points.member_numbers import luhn_check_digit
from points.serializers import PurchaseSerializer, purchase_body_fast
from points.services.errors import InvalidPurchase

NOW = timezone.now()

member_nos = st.one_of(
    st.from_regex(r"\A[1-9][0-9]{8}\Z").map(lambda s: s + luhn_check_digit(s)),
    st.from_regex(r"\AM[0-9]{8}\Z"),
    st.from_regex(r"\A[0-9]{10}\Z"),  # mostly a wrong check digit
)
receipts = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:/-]{0,70}\Z")
offsets = st.sampled_from(["+08:00", "Z", "+00:00", "-05:30", ""])
times = st.builds(
    lambda minutes, offset: (
        (NOW - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S") + offset
    ),
    st.one_of(st.integers(0, 10**5), st.integers(-30, 10**7)),
    offsets,
)
# Mostly in range (so bodies get through), sometimes at or beyond the limits.
numbers = st.one_of(
    st.integers(1, 5000),
    st.integers(1, 5000),
    st.integers(-5, 10**6),
    st.integers(-(10**20), 10**20),
)
skus = st.sampled_from(["NB-A5", "BAG", "", "x" * 65])
categories = st.sampled_from(["pens", "", "bad slug", "x" * 61])
line = st.builds(
    lambda numbers, named: numbers | named,
    st.fixed_dictionaries(
        {"line_no": st.integers(1, 3), "quantity": numbers, "amount_fen": numbers}
    ),
    st.one_of(  # a SKU or a category, as a till sends; sometimes both or neither
        st.fixed_dictionaries({"sku": skus}),
        st.fixed_dictionaries({"category": categories}),
        st.fixed_dictionaries({}, optional={"sku": skus, "category": categories}),
    ),
)
good_body = st.fixed_dictionaries(
    {
        "receipt_no": receipts,
        "occurred_at": times,
        "lines": st.lists(line, min_size=1, max_size=3, unique_by=lambda item: item["line_no"]),
    }
).flatmap(
    lambda body: st.one_of(
        member_nos.map(lambda no: body | {"member_no": no}),
        st.just(body | {"card_code": "1234567890-123456"}),
    )
)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.just(" R-1 "),
    st.just("R\x00-1"),
    st.just("收据-1"),
    st.just("\ud800"),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
FIELDS = ["member_no", "card_code", "receipt_no", "occurred_at", "lines", "store", "extra"]
LINE_FIELDS = ["line_no", "quantity", "amount_fen", "sku", "category", "extra"]


@st.composite
def bodies(draw):
    body = draw(good_body)
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        where = draw(st.sampled_from(["top", "line", "delete"]))
        if where == "top":
            body[draw(st.sampled_from(FIELDS))] = draw(junk)
        elif where == "line" and isinstance(body.get("lines"), list) and body["lines"]:
            target = body["lines"][0]
            if isinstance(target, dict):
                target[draw(st.sampled_from(LINE_FIELDS))] = draw(junk)
        else:
            body.pop(draw(st.sampled_from(FIELDS)), None)
    return body


def _serializer_answer(body):
    try:
        serializer = PurchaseSerializer(data=body)
        if not serializer.is_valid():
            return "invalid", None
        return "valid", dict(serializer.validated_data)
    except InvalidPurchase as error:
        return "refused", (error.code, error.field, str(error))


def _fast_answer(body):
    try:
        data = purchase_body_fast(body)
    except InvalidPurchase as error:
        return "refused", (error.code, error.field, str(error))
    return ("valid", data) if data is not None else ("fallback", None)


@override_settings(LANGUAGE_CODE="en")
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_the_fast_parser_says_what_the_serializer_says_or_passes(body):
    fast = _fast_answer(body)
    if fast[0] == "fallback":
        return
    assert fast == _serializer_answer(body)


def test_a_plain_body_takes_the_fast_path_and_a_refusal_is_the_same_error():
    body = {
        "member_no": "M00000001",
        "receipt_no": "R-1",
        "occurred_at": NOW.isoformat(),
        "lines": [{"line_no": 1, "quantity": 2, "amount_fen": 1580, "sku": "NB-A5"}],
    }
    kind, data = _fast_answer(body)
    assert kind == "valid" and data == _serializer_answer(body)[1]
    assert data["lines"][0].sku == "NB-A5" and data["lines"][0].category is None

    body["lines"][0]["amount_fen"] = 0
    assert _fast_answer(body)[0] == "refused"
    assert _fast_answer(body) == _serializer_answer(body)


@pytest.mark.parametrize(
    "change",
    [
        {"member_no": None},
        {"store": "main"},
        {"extra": 1},
        {"member_no": " M00000001"},
        {"receipt_no": 12},
        {"occurred_at": "2026-12-05T10:00:00"},
        {"lines": []},
        {"lines": [{"line_no": True, "quantity": 1, "amount_fen": 100}]},
        {"lines": [{"line_no": 1, "quantity": 1, "amount_fen": 100, "sku": None}]},
    ],
)
def test_anything_unusual_is_left_to_the_serializer(change):
    body = {
        "member_no": "M00000001",
        "receipt_no": "R-1",
        "occurred_at": NOW.isoformat(),
        "lines": [{"line_no": 1, "quantity": 1, "amount_fen": 100}],
    } | change
    assert purchase_body_fast(body) is None
