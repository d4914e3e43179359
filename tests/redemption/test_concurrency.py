"""Many members racing for the last units, through real PostgreSQL connections."""

import threading

import pytest
from django.db import connections

from config.db import libpq_params
from points.models import Account
from points.services.accounts import redemption_account
from redemption.models import Redemption
from redemption.services import redemptions
from redemption.services.errors import OutOfStock
from redemption.services.redemptions import reward_redeem
from tests.points.helpers import earn


@pytest.fixture(autouse=True, params=["at_once", "general"])
def redeem_path(request, monkeypatch):
    """Each race twice: through the two-statement path (the merchant's redemption account
    exists beforehand, so every redemption may take it; at least one must have) and through
    the general path alone."""
    made = []
    if request.param == "general":
        monkeypatch.setattr(redemptions, "_redeem_at_once", lambda **kwargs: None)
    else:
        redemption_account(request.getfixturevalue("merchant"))
        real = redemptions._redeem_at_once

        def counted(**kwargs):
            redemption = real(**kwargs)
            made.append(redemption is not None)
            return redemption

        monkeypatch.setattr(redemptions, "_redeem_at_once", counted)
    yield request.param
    if request.param == "at_once":
        assert any(made), made


def run_threads(target, count):
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)


def test_fifty_threads_redeem_the_last_five_in_stock(
    transactional_db, make_member, issuer, make_reward, ledger_ok
):
    # Given 50 members with 1,000 points each and a reward with 5 left
    members = [make_member() for _ in range(50)]
    for member in members:
        earn(member, issuer, 1000)
    reward = make_reward(points_price=500, stock=5)
    start = threading.Barrier(50)
    outcomes = []

    # When all 50 redeem at once
    def redeemer(n):
        try:
            start.wait(30)
            reward_redeem(member=members[n], reward=reward, quantity=1, idempotency_key=f"t{n}")
            outcomes.append("ok")
        except OutOfStock:
            outcomes.append("out_of_stock")
        except Exception as error:  # noqa: BLE001 - any other outcome fails the test below
            outcomes.append(repr(error))
        finally:
            connections.close_all()

    run_threads(redeemer, 50)

    # Then exactly 5 succeed, the stock is 0 and nobody's balance is negative
    assert sorted(outcomes) == ["ok"] * 5 + ["out_of_stock"] * 45
    reward.refresh_from_db()
    assert reward.stock == 0
    assert Redemption.objects.count() == 5
    balances = list(Account.objects.filter(kind="standard").values_list("balance", flat=True))
    assert min(balances) >= 0 and sorted(balances).count(500) == 5
    ledger_ok()  # not verify_ledger: its reconciliation names the helpers' document-less earns


def test_one_member_double_submitting_from_ten_threads_makes_one_redemption(
    transactional_db, make_member, issuer, make_reward, ledger_ok
):
    member = make_member()
    earn(member, issuer, 5000)
    reward = make_reward(points_price=500, stock=10)
    start = threading.Barrier(10)
    ids = []

    def submitter(n):
        try:
            start.wait(30)
            redemption = reward_redeem(
                member=member, reward=reward, quantity=1, idempotency_key="same-form"
            )
            ids.append(redemption.pk)
        except Exception as error:  # noqa: BLE001
            ids.append(repr(error))
        finally:
            connections.close_all()

    run_threads(submitter, 10)

    assert len(ids) == 10 and len(set(ids)) == 1, ids
    assert Redemption.objects.count() == 1
    assert Account.objects.get(member=member, kind="standard").balance == 4500
    reward.refresh_from_db()
    assert reward.stock == 9
    ledger_ok()


def test_concurrent_redeems_and_cancels_keep_stock_and_ledger_consistent(
    transactional_db, make_member, issuer, make_reward, ledger_ok
):
    from redemption.services.redemptions import redemption_cancel_by_member

    members = [make_member() for _ in range(10)]
    for member in members:
        earn(member, issuer, 1000)
    reward = make_reward(points_price=500, stock=10)
    first = [
        reward_redeem(member=m, reward=reward, quantity=1, idempotency_key="first") for m in members
    ]
    start = threading.Barrier(20)
    errors = []

    def worker(n):
        try:
            start.wait(30)
            member = members[n % 10]
            if n < 10:
                redemption_cancel_by_member(redemption=first[n], member=member)
            else:
                reward_redeem(member=member, reward=reward, quantity=1, idempotency_key="second")
        except OutOfStock:
            pass  # a second redeem may run before any cancel has put a unit back
        except Exception as error:  # noqa: BLE001
            errors.append(repr(error))
        finally:
            connections.close_all()

    run_threads(worker, 20)

    assert errors == []
    reward.refresh_from_db()
    held = Redemption.objects.exclude(status="cancelled").count()
    assert reward.stock + held == 10
    ledger_ok()


@pytest.mark.parametrize("then", ["redeem", "cancel"])
def test_redemptions_of_an_unlimited_reward_do_not_queue_behind_each_other(
    transactional_db, make_member, issuer, make_reward, ledger_ok, then
):
    """A popular reward: one member's redemption is stuck (another connection holds their
    account) while it holds its lock on the reward; another member's redemption of the same
    reward, or cancel of an earlier one, still goes through. (Locked for update, the reward
    made everyone wait.)"""
    import psycopg
    from django.db import connection

    from redemption.services.redemptions import redemption_cancel_by_member

    first, second = make_member(), make_member()
    for member in (first, second):
        earn(member, issuer, 1000)
    reward = make_reward(points_price=500, stock=None)
    earlier = reward_redeem(member=second, reward=reward, quantity=1, idempotency_key="early")
    account = Account.objects.get(member=first, kind="standard")
    holder = psycopg.connect(**libpq_params())  # the server Django reaches (config/db.py)
    outcomes = {}

    def stuck_redeemer(_n):
        try:
            reward_redeem(member=first, reward=reward, quantity=1, idempotency_key="stuck")
            outcomes["first"] = "ok"
        except Exception as error:  # noqa: BLE001
            outcomes["first"] = repr(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=stuck_redeemer, args=(0,))
    try:
        holder.execute("SELECT 1 FROM points_account WHERE id = %s FOR UPDATE", [account.pk])
        thread.start()
        waiting = 0
        for _ in range(200):  # until the first redemption waits for the account lock
            holder.execute("SELECT pg_stat_clear_snapshot()")  # fresh, not the transaction's
            waiting = holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            ).fetchone()[0]
            if waiting:
                break
            threading.Event().wait(0.05)
        assert waiting == 1
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # fail, not hang, if it queues
        if then == "redeem":
            reward_redeem(member=second, reward=reward, quantity=1, idempotency_key="free")
        else:
            redemption_cancel_by_member(redemption=earlier, member=second)
    finally:
        holder.rollback()
        holder.close()
        thread.join(30)
    assert outcomes == {"first": "ok"}
    kept = Redemption.objects.filter(reward=reward).exclude(status="cancelled").count()
    assert kept == (3 if then == "redeem" else 1)
    ledger_ok()


@pytest.mark.parametrize(
    "points, outcomes",
    [
        (1100, ["InsufficientPoints"] * 8 + ["ok"] * 2),  # points for 2, the limit is 3
        (10_000, ["LimitReached"] * 7 + ["ok"] * 3),
    ],
)
def test_one_member_racing_for_an_unlimited_reward_gets_only_what_they_may_and_can_pay(
    transactional_db, make_member, issuer, make_reward, ledger_ok, points, outcomes
):
    """Without a stock to lock, the member's account orders their redemptions: 10 threads,
    different keys, a limit of 3 per member."""
    from redemption.services.errors import InsufficientPoints, LimitReached

    member = make_member()
    earn(member, issuer, points)
    reward = make_reward(points_price=500, stock=None, per_member_limit=3)
    start = threading.Barrier(10)
    seen = []

    def redeemer(n):
        try:
            start.wait(30)
            reward_redeem(member=member, reward=reward, quantity=1, idempotency_key=f"k{n}")
            seen.append("ok")
        except (InsufficientPoints, LimitReached) as refused:
            seen.append(type(refused).__name__)
        except Exception as error:  # noqa: BLE001
            seen.append(repr(error))
        finally:
            connections.close_all()

    run_threads(redeemer, 10)

    assert sorted(seen) == outcomes
    ok = outcomes.count("ok")
    assert Redemption.objects.filter(member=member).count() == ok
    assert Account.objects.get(member=member, kind="standard").balance == points - 500 * ok
    reward.refresh_from_db()
    assert reward.stock is None
    ledger_ok()
