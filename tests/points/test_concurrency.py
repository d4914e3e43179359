"""Concurrent spending on one account, through real PostgreSQL connections."""

import threading

from django.db import connections

from points.services.ledger import InsufficientPoints
from tests.points.helpers import earn, spend, standard


def test_twenty_threads_spending_100_from_1000_leave_exactly_zero(
    transactional_db, make_member, issuer, merchant, ledger_ok
):
    member = make_member()
    earn(member, issuer, 1000)
    start = threading.Barrier(20)
    outcomes = []

    def spender(n):
        try:
            start.wait(10)
            spend(member, merchant, 100, idempotency_key=f"thread-{n}")
            outcomes.append("ok")
        except InsufficientPoints:
            outcomes.append("refused")
        except Exception as error:  # noqa: BLE001 - any other outcome fails the test below
            outcomes.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=spender, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(outcomes) == ["ok"] * 10 + ["refused"] * 10
    assert standard(member).balance == 0
    ledger_ok()  # not verify_ledger: its reconciliation names the helpers' document-less earns


def test_the_same_key_from_ten_threads_posts_once(transactional_db, make_member, issuer, ledger_ok):
    member = make_member()
    start = threading.Barrier(10)
    ids = []

    def poster():
        try:
            start.wait(10)
            ids.append(earn(member, issuer, 5, idempotency_key="same-receipt").pk)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=poster) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(ids) == 10 and len(set(ids)) == 1
    assert standard(member).balance == 5
    ledger_ok()
