"""Stock stays exact on a busy day: admin edits are relative to the stock as it is when
saved, a cancel gives units back only to a stock they were taken from, and an admin edit of
an unlimited reward does not queue behind redemptions."""

import threading

import psycopg
import pytest
from django.db import connection, transaction

from redemption.models import Reward
from redemption.services.redemptions import redemption_cancel_by_member, reward_redeem
from redemption.services.rewards import reward_save, stock_after_edit
from tests.points.helpers import earn


def _admin_form(reward, **changes):
    """What a browser posts from the change page as it was loaded (stock and its hidden
    initial value as shown then), with `changes` applied."""
    shown = "" if reward.stock is None else str(reward.stock)
    form = {
        "merchant": reward.merchant_id,
        "title": reward.title,
        "kind": reward.kind,
        "points_price": reward.points_price,
        "cash_price_fen": reward.cash_price_fen,
        "face_value_fen": reward.face_value_fen,
        "stock": shown,
        "initial-stock": shown,
        "active": "on",
        "description": "",
        "PriceSchedule_rewards-TOTAL_FORMS": 0,
        "PriceSchedule_rewards-INITIAL_FORMS": 0,
        "price_changes-TOTAL_FORMS": reward.price_changes.count(),
        "price_changes-INITIAL_FORMS": reward.price_changes.count(),
    }
    for n, change in enumerate(reward.price_changes.order_by("-changed_at", "-id")):
        form[f"price_changes-{n}-id"] = change.pk
        form[f"price_changes-{n}-reward"] = reward.pk
    form.update(changes)
    return form


def _url(reward):
    return f"/admin/redemption/reward/{reward.pk}/change/"


def _redeem(funded_member, reward, key="k"):
    return reward_redeem(member=funded_member(), reward=reward, quantity=1, idempotency_key=key)


def test_the_change_page_carries_the_stock_it_was_loaded_with(admin_client, make_reward):
    reward = make_reward(stock=10)

    page = admin_client.get(_url(reward)).content.decode()

    assert 'name="initial-stock" value="10"' in page


def test_an_admin_save_keeps_the_units_redeemed_since_the_page_was_loaded(
    admin_client, make_reward, funded_member, ledger_ok
):
    # Given the admin opened the page at stock 10
    reward = make_reward(stock=10)
    form = _admin_form(reward, title="New title")
    # When a member redeems one unit, then the admin saves another field
    _redeem(funded_member, reward)
    response = admin_client.post(_url(reward), form)
    # Then the redeemed unit stays taken
    assert response.status_code == 302
    reward.refresh_from_db()
    assert (reward.title, reward.stock) == ("New title", 9)
    ledger_ok()


def test_an_admin_restock_adds_to_the_stock_as_it_is_when_saved(
    admin_client, make_reward, funded_member
):
    reward = make_reward(stock=10)
    form = _admin_form(reward, stock="15")  # +5, as the admin sees it
    _redeem(funded_member, reward)

    response = admin_client.post(_url(reward), form, follow=True)

    reward.refresh_from_db()
    assert reward.stock == 14
    shown = [str(m) for m in response.context["messages"]]
    assert any("14" in message for message in shown), shown


def test_an_admin_cannot_remove_more_units_than_are_left_now(
    admin_client, make_reward, funded_member
):
    reward = make_reward(stock=10)
    form = _admin_form(reward, stock="3")  # −7: more than the 2 left after 8 redemptions
    for n in range(8):
        _redeem(funded_member, reward, key=f"k{n}")

    response = admin_client.post(_url(reward), form, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["stock"]
    assert "2" in errors["stock"][0] and "库存" in errors["stock"][0]
    reward.refresh_from_db()
    assert reward.stock == 2


@pytest.mark.parametrize(
    "loaded_stock, entered, expected", [(10, "", None), (None, "5", 5), (None, "", None)]
)
def test_switching_between_limited_and_unlimited_stores_what_was_entered(
    admin_client, make_reward, loaded_stock, entered, expected
):
    reward = make_reward(stock=loaded_stock)

    response = admin_client.post(_url(reward), _admin_form(reward, stock=entered))

    assert response.status_code == 302
    reward.refresh_from_db()
    assert reward.stock == expected


@pytest.mark.parametrize("posted", ["abc", "-1", "1.5", "99999999999999999999", "１０", "10\x00"])
def test_a_damaged_loaded_stock_is_refused_and_nothing_is_saved(admin_client, make_reward, posted):
    reward = make_reward(stock=10)
    form = _admin_form(reward, stock="12", title="Changed")
    form["initial-stock"] = posted

    response = admin_client.post(_url(reward), form, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["stock"]
    reward.refresh_from_db()
    assert (reward.stock, reward.title) != (12, "Changed")
    assert reward.stock == 10


def test_non_utf8_bytes_in_the_loaded_stock_are_refused(admin_client, make_reward):
    reward = make_reward(stock=10)
    form = _admin_form(reward, stock="12")
    del form["initial-stock"]
    from urllib.parse import urlencode

    body = urlencode(form).encode() + b"&initial-stock=%FF%FE"

    response = admin_client.post(
        _url(reward), body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["stock"]
    reward.refresh_from_db()
    assert reward.stock == 10


def test_without_the_loaded_stock_the_entered_stock_is_stored(admin_client, make_reward):
    """A post without the hidden value (a script) sets the stock as entered."""
    reward = make_reward(stock=10)
    form = _admin_form(reward, stock="4")
    del form["initial-stock"]

    response = admin_client.post(_url(reward), form)

    assert response.status_code == 302
    reward.refresh_from_db()
    assert reward.stock == 4


@pytest.mark.parametrize(
    "current, loaded, entered, expected",
    [
        (9, 10, 10, 9),  # untouched: left as it is now
        (9, 10, 15, 14),
        (9, 10, 1, 0),
        (None, None, None, None),
        (7, 10, None, None),
        (None, None, 3, 3),
    ],
)
def test_stock_after_edit(current, loaded, entered, expected):
    assert stock_after_edit(current=current, loaded=loaded, entered=entered) == expected


@pytest.mark.parametrize("current, loaded, entered", [(2, 10, 3), (None, 10, 12)])
def test_stock_after_edit_refuses_what_it_cannot_apply(current, loaded, entered):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        stock_after_edit(current=current, loaded=loaded, entered=entered)
    assert "stock" in refused.value.message_dict


def test_the_service_applies_a_stock_edit_relative_to_the_current_stock(make_reward, funded_member):
    reward = make_reward(stock=10)
    editor_copy = Reward.objects.get(pk=reward.pk)
    _redeem(funded_member, reward)

    editor_copy.stock = 20
    reward_save(reward=editor_copy, stock_loaded=10)

    assert Reward.objects.get(pk=reward.pk).stock == 19


# --- cancels -------------------------------------------------------------------------


def test_a_cancel_gives_no_unit_to_a_stock_that_was_unlimited_at_redemption(
    make_reward, funded_member, ledger_ok
):
    # Given a redemption of an unlimited reward, then the reward got a stock of 5
    reward = make_reward(stock=None)
    redemption = _redeem(funded_member, reward)
    assert redemption.stock_taken is False
    reward.stock = 5
    reward_save(reward=reward)
    # When the member cancels
    redemption_cancel_by_member(redemption=redemption, member=redemption.member)
    # Then the 5 units are still 5: none were taken by that redemption
    assert Reward.objects.get(pk=reward.pk).stock == 5
    ledger_ok()


def test_a_cancel_gives_back_units_taken_from_a_limited_stock(
    make_reward, funded_member, ledger_ok
):
    reward = make_reward(stock=5)
    redemption = _redeem(funded_member, reward)
    assert redemption.stock_taken is True
    assert Reward.objects.get(pk=reward.pk).stock == 4

    redemption_cancel_by_member(redemption=redemption, member=redemption.member)

    assert Reward.objects.get(pk=reward.pk).stock == 5
    ledger_ok()


def test_a_cancel_leaves_a_stock_made_unlimited_unlimited(make_reward, funded_member, ledger_ok):
    reward = make_reward(stock=5)
    redemption = _redeem(funded_member, reward)
    reward.stock = None
    reward_save(reward=reward)

    redemption_cancel_by_member(redemption=redemption, member=redemption.member)

    assert Reward.objects.get(pk=reward.pk).stock is None
    ledger_ok()


def test_a_redemption_recorded_before_the_snapshot_follows_the_stock_as_it_is(
    make_reward, funded_member, ledger_ok
):
    reward = make_reward(stock=5)
    redemption = _redeem(funded_member, reward)
    type(redemption).objects.filter(pk=redemption.pk).update(stock_taken=None)
    redemption.refresh_from_db()

    redemption_cancel_by_member(redemption=redemption, member=redemption.member)

    assert Reward.objects.get(pk=reward.pk).stock == 5
    ledger_ok()


# --- an admin edit beside a stream of redemptions ---------------------------------------


def _raw_connection():
    params = connection.get_connection_params()
    keep = ("dbname", "host", "port", "user", "password")
    return psycopg.connect(**{k: v for k, v in params.items() if k in keep and v is not None})


@pytest.mark.parametrize("edit", ["service", "admin"])
def test_an_admin_edit_of_an_unlimited_reward_does_not_wait_for_redemptions(
    transactional_db, make_member, issuer, make_reward, admin_client, edit, ledger_ok
):
    """A redemption in progress holds its share lock (FOR KEY SHARE) on the reward; the
    edit goes through at once (FOR UPDATE made it wait until redemptions paused)."""
    reward = make_reward(stock=None, points_price=500)
    member = make_member()
    earn(member, issuer, 1000)
    holder = _raw_connection()
    try:
        holder.execute("SELECT 1 FROM redemption_reward WHERE id = %s FOR KEY SHARE", [reward.pk])
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")  # fail, not hang, if it queues
        if edit == "service":
            with transaction.atomic():
                reward.title = "Edited beside redemptions"
                reward_save(reward=reward)
        else:
            form = _admin_form(reward, title="Edited beside redemptions")
            response = admin_client.post(_url(reward), form)
            assert response.status_code == 302
    finally:
        holder.rollback()
        holder.close()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert Reward.objects.get(pk=reward.pk).title == "Edited beside redemptions"
    # and redemptions still go through afterwards
    reward_redeem(member=member, reward=reward, quantity=1, idempotency_key="after")
    ledger_ok()


def test_limited_stock_edits_and_redemptions_from_threads_never_oversell(
    transactional_db, make_member, issuer, make_reward, ledger_ok
):
    """Twenty members race for a stock of 10 while an editor adds 5 units from a copy
    loaded before the race: exactly 15 units are taken or left, never more."""
    from django.db import connections

    from redemption.models import Redemption
    from redemption.services.errors import OutOfStock

    reward = make_reward(stock=10, points_price=500)
    members = [make_member() for _ in range(20)]
    for member in members:
        earn(member, issuer, 1000)
    editor_copy = Reward.objects.get(pk=reward.pk)
    start = threading.Barrier(21)
    outcomes = []

    def redeemer(n):
        try:
            start.wait()
            reward_redeem(member=members[n], reward=reward, quantity=1, idempotency_key="x")
            outcomes.append("ok")
        except OutOfStock:
            outcomes.append("out")
        finally:
            connections.close_all()

    def editor():
        try:
            start.wait()
            editor_copy.stock = 15
            with transaction.atomic():
                reward_save(reward=editor_copy, stock_loaded=10)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=redeemer, args=(n,)) for n in range(20)]
    threads.append(threading.Thread(target=editor))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    taken = Redemption.objects.filter(reward=reward).count()
    left = Reward.objects.get(pk=reward.pk).stock
    assert taken == outcomes.count("ok")
    assert taken + left == 15
    ledger_ok()
