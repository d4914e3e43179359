"""The POS API as a till uses it: purchases, refunds, enrolment, balances, and bad input."""

import itertools
import json
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from points.card_code import card_code_for
from points.models import (
    Account,
    ApiIdempotencyRecord,
    LedgerTransaction,
    Member,
    PointLot,
    Purchase,
)
from tests.points.helpers import code_in, spend, standard

pytestmark = pytest.mark.django_db
_keys = itertools.count(1)


def now_iso(**delta):
    return (timezone.localtime() + timedelta(**delta)).isoformat()


def purchase_body(member, receipt="R-1", lines=None, **extra):
    return {
        "member_no": member.member_no,
        "receipt_no": receipt,
        "occurred_at": now_iso(minutes=-1),
        "lines": lines
        if lines is not None
        else [{"line_no": 1, "category": "notebooks", "quantity": 1, "amount_fen": 12800}],
        **extra,
    }


def post(client, path, body, key=None, raw=None, content_type="application/json"):
    data = raw if raw is not None else json.dumps(body)
    headers = {} if key is False else {"HTTP_IDEMPOTENCY_KEY": key or f"key-{next(_keys)}"}
    return client.post(f"/api/v1/{path}", data=data, content_type=content_type, **headers)


def assert_error(response, status, code, field=None):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    if field is not None:
        assert error["field"] == field, error


# --- Purchases ---------------------------------------------------------------------------


def test_128_yuan_in_a_double_points_category_earns_256(pos, make_member, ledger_ok):
    member = make_member()

    response = post(pos, "purchases", purchase_body(member))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["points"] == 256
    assert body["balance"] == 256 + body["bonus_points"]
    assert body["breakdown"]["lines"][0]["factors"][1]["name"] == "开学季"
    assert Member.objects.get(pk=member.pk).last_activity_at is not None
    ledger_ok()


def test_green_product_earns_green_points(pos, make_member):
    member = make_member()
    lines = [{"line_no": 1, "sku": "GREEN-NB-01", "quantity": 3, "amount_fen": 3840}]

    body = post(pos, "purchases", purchase_body(member, lines=lines)).json()

    assert (body["points"], body["green_points"], body["green_balance"]) == (76, 9, 9)


def test_first_purchase_bonus_is_granted_once(pos, make_member):
    member = make_member()
    first = post(pos, "purchases", purchase_body(member, receipt="R-1")).json()
    second = post(pos, "purchases", purchase_body(member, receipt="R-2")).json()
    assert first["bonus_points"] == 100
    assert second["bonus_points"] == 0


def test_replay_with_the_same_key_and_body_earns_nothing_more(pos, make_member, ledger_ok):
    member = make_member()
    body = purchase_body(member)

    first = post(pos, "purchases", body, key="till-1-0001")
    again = post(pos, "purchases", body, key="till-1-0001")

    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Purchase.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind="earn").count() == 1
    ledger_ok()


def test_a_repeat_purchase_answers_the_balances_it_wrote_and_replays_them(
    pos, make_member, ledger_ok
):
    # Given a member who has bought before (the next purchase is one statement)
    member = make_member()
    post(pos, "purchases", purchase_body(member, receipt="first"))

    # When they buy again, and the till retries the same request
    body = purchase_body(member, receipt="second")
    second = post(pos, "purchases", body, key="till-9")
    again = post(pos, "purchases", body, key="till-9")

    # Then the answer's balances are the stored ones, and the retry gets the same answer
    accounts = {a.kind: a.balance for a in Account.objects.filter(member=member)}
    assert second.status_code == 201
    assert second.json()["balance"] == accounts[Account.Kind.STANDARD]
    assert second.json()["green_balance"] == accounts[Account.Kind.GREEN]
    assert again.json() == second.json() and again["Idempotent-Replayed"] == "true"
    ledger_ok()


def test_same_key_with_a_changed_body_is_a_conflict(pos, make_member):
    member = make_member()
    post(pos, "purchases", purchase_body(member), key="till-1-0002")
    changed = purchase_body(member)
    changed["lines"][0]["amount_fen"] = 99900

    response = post(pos, "purchases", changed, key="till-1-0002")

    assert_error(response, 409, "idempotency_key_reused", "Idempotency-Key")
    assert Purchase.objects.count() == 1


def test_same_receipt_with_a_new_key_is_a_duplicate(pos, make_member):
    member = make_member()
    post(pos, "purchases", purchase_body(member))
    assert_error(post(pos, "purchases", purchase_body(member)), 409, "duplicate_receipt")
    assert Purchase.objects.count() == 1


def test_posting_without_an_idempotency_key_is_refused(pos, make_member):
    response = post(pos, "purchases", purchase_body(make_member()), key=False)
    assert_error(response, 400, "idempotency_key_required")
    assert not Purchase.objects.exists()


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer"])
def test_missing_or_wrong_key_is_401(shop, make_member, header):
    from rest_framework.test import APIClient

    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(post(client, "purchases", purchase_body(make_member())), 401, "unauthorized")
    assert client.get("/api/v1/members/M00000001/balance").status_code == 401


def test_a_deactivated_terminal_is_403_terminal_inactive(pos, shop, make_member):
    shop.active = False
    shop.save()
    assert_error(post(pos, "purchases", purchase_body(make_member())), 403, "terminal_inactive")


def test_a_revoked_terminal_is_401(pos, shop, make_member):
    from merchants.services.terminals import terminal_revoke

    terminal_revoke(terminal=shop)
    assert_error(post(pos, "purchases", purchase_body(make_member())), 401, "unauthorized")


def line(**overrides):
    return {"line_no": 1, "category": "pens", "quantity": 1, "amount_fen": 1000, **overrides}


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([line(amount_fen=0)], "lines[0].amount_fen"),
        ([line(amount_fen=-100)], "lines[0].amount_fen"),
        ([line(amount_fen=12.5)], "lines[0].amount_fen"),
        ([line(amount_fen=12.0)], "lines[0].amount_fen"),
        ([line(amount_fen="1000")], "lines[0].amount_fen"),
        ([line(amount_fen=10**9 + 1)], "lines[0].amount_fen"),
        ([line(amount_fen=True)], "lines[0].amount_fen"),
        ([line(quantity=0)], "lines[0].quantity"),
        ([line(quantity=-1)], "lines[0].quantity"),
        ([line(quantity=10**6)], "lines[0].quantity"),
        ([line(category=None, sku=None)], "lines[0].sku"),
        ([line(sku="X")], "lines[0].sku"),
        ([line(), line()], "lines"),
        ([], "lines"),
    ],
)
def test_bad_lines_are_400_and_write_nothing(pos, make_member, lines, field):
    body = purchase_body(
        make_member(), lines=[{k: v for k, v in x.items() if v is not None} for x in lines]
    )
    assert_error(post(pos, "purchases", body), 400, "invalid", field)
    assert not Purchase.objects.exists()
    assert not ApiIdempotencyRecord.objects.exists()


@pytest.mark.parametrize("missing", ["member_no", "receipt_no", "occurred_at", "lines"])
def test_missing_fields_are_400(pos, make_member, missing):
    body = purchase_body(make_member())
    del body[missing]
    assert_error(post(pos, "purchases", body), 400, "invalid", missing)


@pytest.mark.parametrize(
    "occurred_at",
    ["2026-11-26T10:00:00", "yesterday", "", 1700000000, "9999-01-01T00:00:00+08:00"],
)
def test_occurred_at_without_offset_unparseable_or_future_is_400(pos, make_member, occurred_at):
    body = purchase_body(make_member(), occurred_at=occurred_at)
    assert_error(post(pos, "purchases", body), 400, "invalid", "occurred_at")


def test_occurred_at_more_than_5_minutes_ahead_is_refused_but_4_is_fine(pos, make_member):
    member = make_member()
    late = purchase_body(member, receipt="R-late", occurred_at=now_iso(minutes=6))
    assert_error(post(pos, "purchases", late), 400, "invalid", "occurred_at")
    ok = purchase_body(member, receipt="R-ok", occurred_at=now_iso(minutes=4))
    assert post(pos, "purchases", ok).status_code == 201


def test_unknown_member_is_404(pos):
    body = {
        "member_no": "M99999999",
        "receipt_no": "R-1",
        "occurred_at": now_iso(),
        "lines": [line()],
    }
    assert_error(post(pos, "purchases", body), 404, "unknown_member", "member_no")


def test_unknown_sku_and_category_are_400(pos, make_member):
    member = make_member()
    sku = purchase_body(member, lines=[line(category=None, sku="NOPE")])
    sku["lines"][0].pop("category")
    assert_error(post(pos, "purchases", sku), 400, "unknown_sku", "lines[0].sku")
    category = purchase_body(member, lines=[line(category="nope")])
    assert_error(post(pos, "purchases", category), 400, "unknown_category")
    assert not Purchase.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"\xff\xfe\x00garbage",
        '{"member_no": "M\u00e9"'.encode("latin-1"),
        b"[]",
        b"null",
        b'"text"',
    ],
)
def test_malformed_or_non_utf8_json_is_400(pos, raw):
    response = post(pos, "purchases", None, raw=raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"malformed_json", "invalid"}
    assert not Purchase.objects.exists()


def test_body_over_1_mb_is_refused(pos, make_member):
    body = purchase_body(make_member())
    body["padding"] = "x" * (1024 * 1024)
    assert_error(post(pos, "purchases", body), 400, "body_too_large")


def test_a_store_of_another_merchant_is_refused(pos, other_shop, make_member):
    body = purchase_body(make_member(), store="nowhere")
    assert_error(post(pos, "purchases", body), 400, "unknown_store", "store")


def test_a_repeat_purchase_is_three_statements_with_its_stored_answer_inside(
    transactional_db, pos, make_member, ledger_ok
):
    """Terminal with store and merchant; member with user; then the whole purchase as one
    statement, outside a transaction (as in production, so not inside a test's): posting,
    purchase, lines, last activity, "积分到账" and the stored answer, with no BEGIN, no
    separate INSERT of the answer and no COMMIT. (24 before make bench, 14 after its first
    round, 8 with the answer in its own transaction.)"""
    member = make_member()
    post(pos, "purchases", purchase_body(member, receipt="warm-up"))
    with CaptureQueriesContext(connection) as queries:
        response = post(pos, "purchases", purchase_body(member, receipt="R-2"))

    assert response.status_code == 201
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 3, statements
    assert (
        statements[-1].startswith("WITH credits")
        and "points_apiidempotencyrecord" in (statements[-1])
    )
    assert not any("SAVEPOINT" in sql for sql in statements)
    stored = ApiIdempotencyRecord.objects.get(key=response.request["HTTP_IDEMPOTENCY_KEY"])
    assert (stored.status_code, stored.response) == (201, response.json())
    ledger_ok()


def test_a_purchase_without_green_points_answers_the_unchanged_green_balance(
    pos, make_member, ledger_ok
):
    """The statement credits only the standard account; the answer's green balance is the
    one the statement read, as the general path reads it."""
    member = make_member()
    green_line = {"line_no": 1, "sku": "GREEN-NB-01", "quantity": 2, "amount_fen": 2560}
    post(pos, "purchases", purchase_body(member, receipt="first", lines=[green_line]))
    response = post(pos, "purchases", purchase_body(member, receipt="plain"))

    accounts = {a.kind: a.balance for a in Account.objects.filter(member=member)}
    assert response.json()["green_points"] == 0
    assert response.json()["green_balance"] == accounts[Account.Kind.GREEN] > 0
    assert response.json()["balance"] == accounts[Account.Kind.STANDARD]
    ledger_ok()


# --- Refunds -----------------------------------------------------------------------------


def refund_body(receipt="R-1", refund_no="RF-1", lines=None):
    return {
        "receipt_no": receipt,
        "refund_no": refund_no,
        "lines": lines or [{"line_no": 1, "quantity": 1}],
    }


def buy(pos, member, receipt="R-1", lines=None):
    response = post(pos, "purchases", purchase_body(member, receipt=receipt, lines=lines))
    assert response.status_code == 201, response.content
    return response.json()


def test_refund_takes_back_the_points_and_restores_the_exact_lot(pos, make_member, ledger_ok):
    member = make_member()
    bought = buy(pos, member)
    lot = PointLot.objects.get(transaction_id=bought["transaction_id"])

    response = post(pos, "refunds", refund_body())

    assert response.status_code == 201, response.content
    assert response.json()["points"] == 256
    lot.refresh_from_db()
    assert lot.remaining == 0  # the purchase's own lot, not the bonus lot
    assert standard(member).balance == 0  # the first-purchase bonus went with it
    ledger_ok()


def test_partial_refunds_add_up_to_the_line_and_no_more(pos, make_member, ledger_ok):
    member = make_member()
    lines = [{"line_no": 1, "sku": "GREEN-NB-01", "quantity": 3, "amount_fen": 3850}]
    bought = buy(pos, member, lines=lines)  # 38.50 × 2 = 77 points, 9 green
    taken = []
    for number in range(3):
        response = post(
            pos,
            "refunds",
            refund_body(refund_no=f"RF-{number}", lines=[{"line_no": 1, "quantity": 1}]),
        )
        taken.append((response.json()["points"], response.json()["green_points"]))

    assert sum(p for p, _ in taken) == bought["points"] == 77
    assert sum(g for _, g in taken) == 9
    too_many = post(pos, "refunds", refund_body(refund_no="RF-9"))
    assert_error(too_many, 422, "refund_exceeds_purchase")
    ledger_ok()


def test_refund_of_more_than_bought_is_422_and_changes_nothing(pos, make_member):
    member = make_member()
    buy(pos, member)
    response = post(pos, "refunds", refund_body(lines=[{"line_no": 1, "quantity": 2}]))
    assert_error(response, 422, "refund_exceeds_purchase")
    missing_line = post(pos, "refunds", refund_body(lines=[{"line_no": 7, "quantity": 1}]))
    assert_error(missing_line, 422, "refund_exceeds_purchase")
    assert not LedgerTransaction.objects.filter(kind="refund").exists()


def test_repeating_a_refund_number_does_not_refund_twice(pos, make_member):
    member = make_member()
    buy(pos, member, lines=[line(quantity=2, amount_fen=2000)])
    first = post(pos, "refunds", refund_body())
    again = post(pos, "refunds", refund_body())
    assert (first.status_code, again.status_code) == (201, 200)
    assert LedgerTransaction.objects.filter(kind="refund").count() == 1


def test_a_terminal_of_another_merchant_cannot_refund_the_receipt(pos, other_pos, make_member):
    buy(pos, make_member())
    assert_error(post(other_pos, "refunds", refund_body()), 404, "receipt_not_found")
    assert not LedgerTransaction.objects.filter(kind="refund").exists()


def test_refund_of_spent_points_leaves_a_debt_by_default(pos, make_member, shop, ledger_ok):
    member = make_member()
    bought = buy(pos, member)
    spend(member, shop.store.merchant, bought["balance"])

    body = post(pos, "refunds", refund_body()).json()

    # The first-purchase bonus (spent too) goes with the purchase: a debt of both.
    assert body["points"] == 256 and body["balance"] == -256 - bought["bonus_points"]
    txn = LedgerTransaction.objects.get(kind="refund")
    assert txn.breakdown["policy"] == "allow_negative"
    assert txn.breakdown["overdraft"] == {standard(member).code: 256}
    ledger_ok()


def test_refund_of_spent_points_under_cap_at_balance_takes_only_what_is_left(
    pos, make_member, shop, settings, ledger_ok
):
    settings.REFUND_POLICY = "cap_at_balance"
    member = make_member()
    bought = buy(pos, member)
    spend(member, shop.store.merchant, bought["balance"] - 56)

    body = post(pos, "refunds", refund_body()).json()

    assert (body["points_due"], body["points"], body["balance"]) == (256, 56, 0)
    assert LedgerTransaction.objects.get(kind="refund").breakdown["policy"] == "cap_at_balance"
    ledger_ok()


# --- Members -----------------------------------------------------------------------------


def enrol(pos, mobile, sms_outbox, sending):
    """Both steps of till enrolment: ask for a code, read it from the text, send it."""
    with sending():
        sent = post(pos, "members", {"mobile": mobile, "consent": True})
    assert sent.status_code == 202, sent.content
    return post(
        pos, "members", {"mobile": mobile, "consent": True, "sms_code": code_in(sms_outbox[-1])}
    )


def test_enrolling_by_mobile_creates_a_member_with_the_signup_bonus_once(
    pos, ledger_ok, sms_outbox, sending, time_machine
):
    first = enrol(pos, "13812341234", sms_outbox, sending)
    time_machine.move_to(timezone.now() + timedelta(minutes=2))  # past one code a minute
    again = enrol(pos, "138 1234 1234", sms_outbox, sending)

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["member_no"] == again.json()["member_no"]
    assert first.json()["mobile_masked"] == "138****1234"
    assert (first.json()["created"], again.json()["created"]) == (True, False)
    member = Member.objects.get(mobile="13812341234")
    assert standard(member).balance == 100
    assert Member.objects.filter(mobile="13812341234").count() == 1
    ledger_ok()


@pytest.mark.parametrize(
    "body",
    [
        {"mobile": "12345", "consent": True},
        {"mobile": "23812341234", "consent": True},
        {"mobile": "1381234123x", "consent": True},
        {"mobile": "13812341234", "consent": False},
        {"mobile": "13812341234"},
        {"consent": True},
        {"mobile": "1" * 500, "consent": True},
    ],
)
def test_enrolment_with_bad_input_is_400(pos, body):
    response = post(pos, "members", body)
    assert response.status_code == 400
    assert not Member.objects.exists()


def test_bonuses_never_exceed_the_compliance_cap(pos, settings, sms_outbox, sending):
    settings.POINTS_SIGNUP_BONUS = 150
    settings.POINTS_FIRST_PURCHASE_BONUS = 150  # misconfigured at runtime: the cap still holds
    member_no = enrol(pos, "13900000000", sms_outbox, sending).json()["member_no"]
    member = Member.objects.get(member_no=member_no)
    buy(pos, member)
    bonus = sum(
        e.points
        for txn in LedgerTransaction.objects.filter(kind="bonus", member=member)
        for e in txn.entries.filter(account__member=member)
    )
    assert bonus == settings.POINTS_SIGNUP_BONUS_CAP == 200


def test_balance_lists_points_expiring_within_90_days(pos, make_member, shop, settings):
    settings.POINTS_EXPIRY_MONTHS = 2
    member = make_member()
    buy(pos, member)

    response = pos.get(
        f"/api/v1/members/{member.member_no}/balance", {"card_code": card_code_for(member)}
    )

    body = response.json()
    assert body["balance"] == body["spendable"] == 256 + 100
    assert sum(item["points"] for item in body["expiring_within_90_days"]) == 356
    assert body["points_never_expire"] is False


def test_balance_of_something_that_is_no_member_number_is_400(pos):
    assert_error(pos.get("/api/v1/members/NOPE/balance"), 400, "invalid_member_no")


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/schema")
    assert schema.status_code == 200
    assert b"/api/v1/purchases" in schema.content
    assert client.get("/api/v1/docs").status_code == 200


def test_accounts_stay_consistent_after_a_mixed_session(pos, make_member, ledger_ok):
    member = make_member()
    buy(pos, member, "R-1")
    buy(pos, member, "R-2", lines=[line(quantity=4, amount_fen=4000)])
    post(pos, "refunds", refund_body("R-2", "RF-1", [{"line_no": 1, "quantity": 3}]))
    assert Account.objects.get(member=member, kind="standard").balance == 256 + 100 + 10
    ledger_ok()


def test_each_terminal_is_throttled_on_its_own(pos, other_pos, monkeypatch):
    from django.core.cache import cache

    from points.api import TerminalRateThrottle

    cache.clear()
    monkeypatch.setattr(TerminalRateThrottle, "THROTTLE_RATES", {"terminal": "3/min"})
    statuses = [pos.get("/api/v1/members/NOPE/balance").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    assert pos.get("/api/v1/members/NOPE/balance").json()["error"]["code"] == "throttled"
    assert other_pos.get("/api/v1/members/NOPE/balance").status_code == 400


def test_a_throttled_terminal_is_told_when_its_window_ends(pos, monkeypatch):
    from django.core.cache import cache

    from points.api import TerminalRateThrottle

    cache.clear()
    monkeypatch.setattr(TerminalRateThrottle, "THROTTLE_RATES", {"terminal": "2/min"})
    for _ in range(2):
        assert pos.get("/api/v1/members/NOPE/balance").status_code == 400
    response = pos.get("/api/v1/members/NOPE/balance")
    assert response.status_code == 429
    seconds = int(response.json()["error"]["message"].split("retry in ")[1].split(" ")[0])
    assert 1 <= seconds <= 60


def _took_too_long(signum, frame):
    raise TimeoutError("the request waited on Redis for over 10 s")


def _cache_is_redis() -> bool:
    from django.conf import settings

    return settings.CACHES["default"]["BACKEND"].endswith(".RedisCache")


@pytest.mark.skipif(not _cache_is_redis(), reason="make test runs with Redis (REDIS_URL)")
class TestThrottleCounterOnRedis:
    def key(self):
        from django.core.cache import cache

        cache.clear()
        return "throttle_test_counter"

    def test_the_api_counts_each_request_in_the_window_counter(self, shop, pos, monkeypatch):
        """Through the view: the counter is what the throttle reads and writes (DRF's list
        of timestamps is not stored at all)."""
        from django.core.cache import caches

        from points.api import TerminalRateThrottle

        monkeypatch.setattr(TerminalRateThrottle, "THROTTLE_RATES", {"terminal": "3/min"})
        backend = caches["default"]
        backend.clear()
        window = int(time.time() // 60)
        statuses = [pos.get("/api/v1/members/NOPE/balance").status_code for _ in range(4)]
        assert statuses == [400, 400, 400, 429]
        terminal_key = f"throttle_terminal_{shop.pk}"
        counts = [backend.get(f"window_{terminal_key}_{w}") for w in (window, window + 1)]
        assert sum(c or 0 for c in counts) == 4  # (the minute may turn during the test)
        assert backend.get(terminal_key) is None  # DRF's own history is never written

    def test_the_api_lets_requests_through_when_redis_is_down(self, pos, monkeypatch):
        from django.core.cache import caches
        from django.core.cache.backends.redis import RedisCache

        from points.api import TerminalRateThrottle

        monkeypatch.setattr(TerminalRateThrottle, "THROTTLE_RATES", {"terminal": "1/min"})
        nowhere = RedisCache("redis://127.0.0.1:1/0", {})  # nothing listens on port 1
        monkeypatch.setitem(caches._connections.__dict__, "default", nowhere)
        assert caches["default"] is nowhere
        statuses = [pos.get("/api/v1/members/NOPE/balance").status_code for _ in range(3)]
        assert statuses == [400, 400, 400]  # failed open: not throttled, never a 500

    def test_a_redis_that_hangs_delays_a_request_by_its_timeout_only(self, pos, monkeypatch):
        """It accepts the connection and never answers: the configured socket timeout ends
        the wait and the throttle fails open."""
        import signal
        import socket
        import time

        from django.conf import settings
        from django.core.cache import caches
        from django.core.cache.backends.redis import RedisCache

        from points.api import TerminalRateThrottle

        monkeypatch.setattr(TerminalRateThrottle, "THROTTLE_RATES", {"terminal": "1/min"})
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)  # connections complete in the kernel; nothing ever replies
            port = silent.getsockname()[1]
            options = settings.CACHES["default"]["OPTIONS"]
            hung = RedisCache(f"redis://127.0.0.1:{port}/0", {"OPTIONS": options})
            monkeypatch.setitem(caches._connections.__dict__, "default", hung)
            started = time.monotonic()
            # Without a timeout this would wait for ever: the alarm turns that into a failure.
            previous = signal.signal(signal.SIGALRM, _took_too_long)
            signal.alarm(10)
            try:
                response = pos.get("/api/v1/members/NOPE/balance")
            finally:
                signal.alarm(0)
                signal.signal(signal.SIGALRM, previous)
            took = time.monotonic() - started
        assert response.status_code == 400
        assert took < 3, f"a hung Redis held the request for {took:.1f} s"

    def test_concurrent_requests_are_all_counted(self):
        """DRF's history is read, changed and written back: two workers can both read n and
        both write n + 1. The counter is one atomic script call: 8 threads, 200 distinct
        counts."""
        from concurrent.futures import ThreadPoolExecutor

        from django.core.cache import caches

        from points.api import count_in_window

        cache = caches["default"]  # the backend itself, as the throttle passes it

        key, now = self.key(), 6000.0  # one fixed moment: one window
        with ThreadPoolExecutor(8) as pool:
            counts = list(
                pool.map(lambda _: count_in_window(cache, key, 60, now=now)[0], range(200))
            )
        assert sorted(counts) == list(range(1, 201))

    def test_a_cache_other_than_redis_counts_the_same_way(self):
        """Redis takes one pipelined round trip; any other cache the portable incr/add."""
        from django.core.cache import caches
        from django.core.cache.backends.locmem import LocMemCache
        from django.core.cache.backends.redis import RedisCache

        from points.api import count_in_window

        assert isinstance(caches["default"], RedisCache)  # the other tests: the pipelined path
        local = LocMemCache("throttle-test", {})
        key = self.key()
        assert count_in_window(local, key, 60, now=6000.0) == (1, 60)
        assert count_in_window(local, key, 60, now=6030.0) == (2, 30)
        assert count_in_window(local, key, 60, now=6060.0) == (1, 60)

    def test_each_window_of_the_clock_has_its_own_counter(self):
        from django.core.cache import caches

        from points.api import count_in_window

        cache = caches["default"]  # the backend itself, as the throttle passes it

        key = self.key()
        # Windows follow the clock: 6000 s is the start of one, 6059.5 s its last half-second
        assert count_in_window(cache, key, 60, now=6000.0) == (1, 60)
        assert count_in_window(cache, key, 60, now=6059.5) == (2, 1)
        # The next window counts from one again, with a key of its own
        assert count_in_window(cache, key, 60, now=6060.0) == (1, 60)
        # A counter left without expiry (say, restored by hand) stays in its own window
        cache.set(f"window_{key}_{int(time.time() // 30)}", 7, timeout=None)
        assert count_in_window(cache, key, 30)[0] == 8
        assert count_in_window(cache, key, 30, now=time.time() + 30)[0] == 1
