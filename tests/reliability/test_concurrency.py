"""Concurrency against real PostgreSQL connections (issue 11, part 2)."""

import json
import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import OperationalError, connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from points.models import Account, LedgerTransaction, Purchase
from points.services.accounts import issuance_account
from points.services.expiry import points_expire_due
from points.services.purchases import (
    LineRequest,
    RefundLineRequest,
    purchase_record,
    purchase_refund,
)
from points.services.retry import DatabaseBusy, call_with_db_retry, is_retryable
from redemption.models import Redemption
from redemption.services.errors import RedemptionError
from redemption.services.redemptions import reward_redeem
from redemption.services.rewards import reward_create
from tests.conftest import assert_ledger_invariants
from tests.points.conftest import make_shop
from tests.points.helpers import earn, standard


def purchase_body(member, receipt, amount=12800):
    return json.dumps(
        {
            "member_no": member.member_no,
            "receipt_no": receipt,
            "occurred_at": (timezone.localtime() - timedelta(minutes=1)).isoformat(),
            "lines": [{"line_no": 1, "category": "pens", "quantity": 2, "amount_fen": amount}],
        }
    )


def run_threads(target, count, timeout=60):
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"


def test_one_purchase_posted_from_ten_connections_with_one_key_makes_one_transaction(
    transactional_db, make_member
):
    make_shop("conc-a", "jf_conc_key_a_0001")
    member = make_member()
    body = purchase_body(member, "SAME-1")
    start = threading.Barrier(10)
    answers = []

    def till(_n):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Bearer jf_conc_key_a_0001")
        try:
            start.wait(10)
            response = client.post(
                "/api/v1/purchases",
                data=body,
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY="one-key",
            )
            answers.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    run_threads(till, 10)

    assert len(answers) == 10
    assert {status for status, _ in answers} == {201}  # every retry is answered the same
    assert len({body["transaction_id"] for _, body in answers}) == 1
    assert LedgerTransaction.objects.filter(kind="earn", reference="SAME-1").count() == 1
    assert Purchase.objects.filter(receipt_no="SAME-1").count() == 1
    assert standard(member).balance == 128 + 100  # the earn and the first-purchase bonus
    assert_ledger_invariants()


def _tills(key, bodies, idempotency_key):
    """One thread per body, all posting at once with the same Idempotency-Key."""
    start = threading.Barrier(len(bodies))
    answers = []

    def till(n):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        try:
            start.wait(10)
            response = client.post(
                "/api/v1/purchases",
                data=bodies[n],
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=idempotency_key,
            )
            answers.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    run_threads(till, len(bodies))
    return answers


def test_a_repeat_purchase_sent_from_ten_connections_with_one_key_is_one_answer(
    transactional_db, make_member
):
    """The one-statement path stores its answer in its own statement: the nine others find
    the receipt taken (or the key), write nothing, and are given that stored answer."""
    make_shop("conc-b", "jf_conc_key_b_0001")
    member = make_member()
    assert _tills("jf_conc_key_b_0001", [purchase_body(member, "FIRST")], "first")[0][0] == 201

    answers = _tills("jf_conc_key_b_0001", [purchase_body(member, "AGAIN-1")] * 10, "again")

    assert {status for status, _ in answers} == {201}
    assert len({json.dumps(body, sort_keys=True) for _, body in answers}) == 1
    assert Purchase.objects.filter(receipt_no="AGAIN-1").count() == 1
    assert standard(member).balance == 2 * 128 + 100
    assert_ledger_invariants()


def test_one_key_on_two_different_repeat_purchases_at_once_records_one_and_refuses_the_other(
    transactional_db, make_member
):
    make_shop("conc-c", "jf_conc_key_c_0001")
    member = make_member()
    _tills("jf_conc_key_c_0001", [purchase_body(member, "FIRST")], "first")

    answers = _tills(
        "jf_conc_key_c_0001",
        [purchase_body(member, "ONE"), purchase_body(member, "TWO", amount=9900)],
        "shared",
    )

    assert sorted(status for status, _ in answers) == [201, 409]
    [refused] = [body for status, body in answers if status == 409]
    assert refused["error"]["code"] == "idempotency_key_reused"
    assert Purchase.objects.filter(receipt_no__in=["ONE", "TWO"]).count() == 1
    assert_ledger_invariants()


@pytest.mark.parametrize("at_once", [True, False])
def test_earn_redeem_refund_and_expiry_on_one_member_at_once_keep_the_invariants(
    transactional_db, make_member, monkeypatch, at_once
):
    """Four kinds of writer, 3 threads each, all on one member: each call either succeeds or
    is refused by a domain rule; no database error escapes; the ledger verifies. Redemptions
    in two statements (`at_once`: the redemption account exists) or by the general path."""
    from points.services.accounts import redemption_account
    from redemption.services import redemptions

    terminal = make_shop("conc-b", "jf_conc_key_b_0001")
    merchant = terminal.store.merchant
    if at_once:
        redemption_account(merchant)
    else:
        monkeypatch.setattr(redemptions, "_redeem_at_once", lambda **kwargs: None)
    member = make_member()
    earn(member, issuance_account(merchant), 400, expires_at=timezone.now() - timedelta(hours=1))
    earn(member, issuance_account(merchant), 900, expires_at=None)
    reward = reward_create(merchant=merchant, title="Mug", points_price=100, face_value_fen=800)
    for n in range(3):
        purchase_record(
            merchant=merchant,
            member=member,
            receipt_no=f"OLD-{n}",
            occurred_at=timezone.now(),
            terminal=terminal,
            lines=[LineRequest(line_no=1, quantity=4, amount_fen=20000, category="pens")],
        )
    start = threading.Barrier(12)
    outcomes = []

    def writer(n):
        kind = ("earn", "redeem", "refund", "expire")[n % 4]
        try:
            start.wait(10)
            if kind == "earn":
                client = APIClient()
                client.credentials(HTTP_AUTHORIZATION="Bearer jf_conc_key_b_0001")
                response = client.post(
                    "/api/v1/purchases",
                    data=purchase_body(member, f"NEW-{n}"),
                    content_type="application/json",
                    HTTP_IDEMPOTENCY_KEY=f"new-{n}",
                )
                assert response.status_code == 201, response.content
            elif kind == "redeem":
                call_with_db_retry(
                    reward_redeem,
                    member=member,
                    reward=reward,
                    quantity=2,
                    idempotency_key=f"conc-{n}",
                )
            elif kind == "refund":
                call_with_db_retry(
                    purchase_refund,
                    merchant=merchant,
                    receipt_no=f"OLD-{n // 4}",
                    refund_no=f"RF-{n}",
                    lines=[RefundLineRequest(line_no=1, quantity=3)],
                )
            else:
                call_with_db_retry(points_expire_due)
            outcomes.append((kind, "ok"))
        except RedemptionError as refusal:
            outcomes.append((kind, refusal.code))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            outcomes.append((kind, repr(error)))
        finally:
            connections.close_all()

    run_threads(writer, 12)

    assert len(outcomes) == 12
    unexpected = [o for o in outcomes if o[1] not in ("ok", "insufficient_points")]
    assert not unexpected, unexpected
    assert LedgerTransaction.objects.filter(kind="expire").count() == 1  # expired once
    assert LedgerTransaction.objects.filter(kind="refund").count() == 3
    assert Purchase.objects.filter(receipt_no__startswith="NEW-").count() == 3
    assert_ledger_invariants()


def test_a_real_deadlock_is_retried_and_both_writers_finish(transactional_db, make_member):
    """Two transactions lock two accounts in opposite orders: PostgreSQL aborts one with
    `deadlock detected`; the retry helper runs it again and both complete."""
    a, b = standard(make_member()), standard(make_member())
    start = threading.Barrier(2)
    attempts = {0: 0, 1: 0}
    results = []

    def locker(n):
        first, second = (a, b) if n == 0 else (b, a)

        def unit():
            attempts[n] += 1
            with transaction.atomic(durable=True):
                Account.objects.select_for_update().get(pk=first.pk)
                if attempts[n] == 1:
                    start.wait(10)
                Account.objects.select_for_update().get(pk=second.pk)
            return n

        try:
            results.append(call_with_db_retry(unit))
        except Exception as error:  # noqa: BLE001
            results.append(repr(error))
        finally:
            connections.close_all()

    run_threads(locker, 2)

    assert sorted(results) == [0, 1]
    assert attempts[0] + attempts[1] == 3  # exactly one deadlock victim, rerun once


def _deadlock_error():
    error = OperationalError("deadlock detected")
    error.__cause__ = psycopg.errors.DeadlockDetected("deadlock detected")
    return error


def test_retries_are_bounded_then_reported_as_database_busy():
    calls = []

    def always_deadlocks():
        calls.append(1)
        raise _deadlock_error()

    with pytest.raises(DatabaseBusy) as raised:
        call_with_db_retry(always_deadlocks, attempts=3)
    assert len(calls) == 3 and raised.value.attempts == 3


def test_other_database_errors_are_not_retried():
    calls = []

    def fails():
        calls.append(1)
        raise OperationalError("connection refused")

    with pytest.raises(OperationalError):
        call_with_db_retry(fails)
    assert calls == [1]
    assert is_retryable(_deadlock_error()) and not is_retryable(ValueError())


def test_an_api_write_that_keeps_deadlocking_answers_503_in_the_error_shape(
    db, monkeypatch, make_member
):
    make_shop("conc-c", "jf_conc_key_c_0001")
    member = make_member()
    calls = []

    def deadlocking(**kwargs):
        calls.append(1)
        raise _deadlock_error()

    monkeypatch.setattr("points.api.purchase_record", deadlocking)
    monkeypatch.setattr("points.services.retry.connection", _NotInAtomic())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer jf_conc_key_c_0001")
    response = client.post(
        "/api/v1/purchases",
        data=purchase_body(member, "DL-1"),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="dl-1",
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_busy"
    assert set(response.json()["error"]) == {"code", "message", "field"}
    assert len(calls) == 3


class _NotInAtomic:
    """The `db` fixture wraps the test in a transaction; the API's own unit is what matters."""

    in_atomic_block = False


@pytest.mark.parametrize("at_once", [False, True])
@pytest.mark.parametrize("stock", [None, 5])
def test_redeeming_locks_the_reward_row_only_not_its_merchant(
    db, make_member, merchant, stock, at_once
):
    """Regression: `Reward` orders by merchant, so a plain SELECT ... FOR UPDATE joined and
    locked the merchant row; every earn at that merchant then waited at COMMIT (its foreign
    key check) for the redemption, which waited for the earn's account: a deadlock. A
    limited stock locks the reward row for update; an unlimited one share-locks it alone.
    `at_once`: the merchant's redemption account exists, so the two-statement path runs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from points.services.accounts import issuance_account, redemption_account

    member = make_member()
    earn(member, issuance_account(merchant), 500)
    reward = reward_create(
        merchant=merchant, title="Pen", points_price=100, face_value_fen=800, stock=stock
    )
    if at_once:
        redemption_account(merchant)
    with CaptureQueriesContext(connection) as queries:
        reward_redeem(member=member, reward=reward, quantity=1, idempotency_key="lock-1")
    locks = [
        q["sql"]
        for q in queries
        if ("FOR UPDATE" in q["sql"] or "FOR KEY SHARE" in q["sql"])
        and "redemption_reward" in q["sql"]
    ]
    expected = 'FOR UPDATE OF "redemption_reward"' if stock else "FOR KEY SHARE"
    assert locks and all(expected in sql for sql in locks), locks
    # FOR ... OF names the one table it locks; a bare FOR KEY SHARE locks all it reads.
    assert not any(
        "merchants_merchant" in sql
        for sql in locks
        if "KEY SHARE" in sql and 'KEY SHARE OF "redemption_reward"' not in sql
    ), locks
    assert Redemption.objects.filter(idempotency_key="lock-1").get().ledger_transaction_id
    statements = [q for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert (len(statements) == 2) is at_once, [q["sql"][:80] for q in statements]
