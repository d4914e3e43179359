"""Win-back: one personal offer per lapse, on the most-used merchant, redeemable only by its
member, once, inside its 30 days, at its price."""

import threading
from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connections
from django.utils import timezone, translation

from merchants.models import Category, Merchant
from points.models import LedgerEntry, LedgerTransaction, Member, Notification
from points.services.accounts import redemption_account
from points.services.purchases import LineRequest, purchase_record
from redemption.models import Redemption, Reward, WinBackOffer
from redemption.services.errors import OfferNotValid
from redemption.services.redemptions import reward_redeem
from redemption.services.winback import (
    OfferTerms,
    offer_terms_pick,
    winback_offers_send,
)
from redemption.tasks import send_winback_offers_task
from tests.points.helpers import earn, standard

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
_receipts = iter(range(1, 10_000))


def at(days: float):
    """Travel to T0 + `days` (the clock stands still there)."""
    return time_machine.travel(T0 + timedelta(days=days), tick=False)


def buy(member, merchant, *, yuan=100):
    """A real purchase through the earn path (it also moves `last_activity_at`)."""
    Category.objects.get_or_create(merchant=merchant, slug="pens", defaults={"name": "Pens"})
    return purchase_record(
        merchant=merchant,
        member=member,
        receipt_no=f"R-{next(_receipts)}",
        occurred_at=timezone.now(),
        lines=[LineRequest(line_no=1, quantity=1, amount_fen=yuan * 100, category="pens")],
    )


def send(days: float) -> int:
    with at(days):
        return winback_offers_send()


@pytest.fixture(autouse=True)
def english():
    """Refusals are matched in English; notifications still use the site's language."""
    with translation.override("en"):
        yield


@pytest.fixture
def notebook(make_reward):
    """1,000 points, worth ¥60: the 30% offer is 700 points."""
    return make_reward(title="笔记本套装", points_price=1000, face_value_fen=6000, stock=10)


@pytest.fixture
def shopper(make_member, merchant, issuer):
    """A member who shopped at `merchant` on day 0 and holds 1,000 more points from then."""
    with at(0):
        member = make_member()
        buy(member, merchant)
        earn(member, issuer, 1000)
    return Member.objects.get(pk=member.pk)


def test_a_lapsed_member_gets_exactly_one_offer_per_lapse_however_often_it_runs(shopper, notebook):
    # Given a member last active on day 0
    # When the daily job runs on day 89, 90, again on day 90, and on day 95
    sent = [send(89), send(90), send(90), send(95)]

    # Then one offer was made, on day 90, at 30% off, valid for 30 days
    assert sent == [0, 1, 0, 0]
    offer = WinBackOffer.objects.get()
    assert (offer.member, offer.reward) == (shopper, notebook)
    assert (offer.list_points_price, offer.points_price, offer.percent_off) == (1000, 700, 30)
    assert offer.lapse_started_at == shopper.last_activity_at
    assert offer.valid_from == T0 + timedelta(days=90)
    assert offer.valid_until == T0 + timedelta(days=120)
    # And one inbox message links to the member's offer page
    notification = Notification.objects.get(member=shopper, kind=Notification.Kind.WIN_BACK)
    assert notification.kind == Notification.Kind.WIN_BACK
    assert notification.link == f"/rewards/{notebook.pk}/?offer={offer.pk}"
    assert "笔记本套装" in notification.title and "700" in notification.body
    assert notification.title.startswith("您的专属优惠")  # in the site's language (zh-hans)


def test_an_active_member_gets_no_offer(make_member, merchant, notebook):
    with at(0):
        member = make_member()
        buy(member, merchant)
    with at(80):
        buy(member, merchant)

    assert send(100) == 0
    assert not WinBackOffer.objects.exists()
    assert not Notification.objects.filter(kind=Notification.Kind.WIN_BACK).exists()


def test_a_recent_redemption_counts_as_activity(shopper, make_reward):
    cheap = make_reward(title="Pen", points_price=100, face_value_fen=500)
    with at(60):
        reward_redeem(member=shopper, reward=cheap, quantity=1, idempotency_key="pen")

    assert send(100) == 0
    assert send(150) == 1
    assert WinBackOffer.objects.get().lapse_started_at == T0 + timedelta(days=60)


def test_coming_back_and_lapsing_again_gives_a_new_offer(shopper, merchant, notebook):
    # Given an offer for the first lapse
    assert send(90) == 1
    # When the member comes back on day 100 and then stays away again
    with at(100):
        buy(shopper, merchant)

    # Then nothing more while they are active, and one new offer for the new lapse
    assert send(150) == 0
    assert send(190) == 1
    assert send(191) == 0
    lapses = list(WinBackOffer.objects.order_by("id").values_list("lapse_started_at", flat=True))
    assert lapses == [T0, T0 + timedelta(days=100)]
    assert Notification.objects.filter(kind=Notification.Kind.WIN_BACK).count() == 2


def test_the_offer_is_on_the_merchant_with_most_purchases(make_member, merchant, make_reward):
    other = Merchant.objects.create(name="绿叶生活 Test", slug="greenleaf-test")
    make_reward(
        merchant=merchant, title="Chenguang notebook", points_price=1000, face_value_fen=6000
    )
    greenleaf = make_reward(
        merchant=other, title="Greenleaf bag", points_price=800, face_value_fen=6000
    )
    with at(0):
        member = make_member()
        buy(member, merchant)
        buy(member, other)
        buy(member, other)

    assert send(90) == 1
    assert WinBackOffer.objects.get().reward == greenleaf


def test_a_tie_goes_to_the_merchant_used_most_recently(make_member, merchant, make_reward):
    other = Merchant.objects.create(name="绿叶生活 Test", slug="greenleaf-test")
    make_reward(
        merchant=merchant, title="Chenguang notebook", points_price=1000, face_value_fen=6000
    )
    greenleaf = make_reward(
        merchant=other, title="Greenleaf bag", points_price=800, face_value_fen=6000
    )
    with at(-2):
        member = make_member()
        buy(member, merchant)
    with at(0):
        buy(member, other)

    assert send(90) == 1
    assert WinBackOffer.objects.get().reward == greenleaf


def test_no_offer_when_the_merchant_has_no_available_reward(shopper, make_reward):
    make_reward(title="Sold out", stock=0)
    make_reward(title="Hidden", active=False)

    assert send(90) == 0
    assert not WinBackOffer.objects.exists()


def test_the_offer_is_never_below_the_value_floor(shopper, make_reward, settings):
    # Given a reward of 500 points worth ¥25 and a floor raised to 8 fen a point
    make_reward(points_price=500, face_value_fen=2500)
    settings.POINT_VALUE_FLOOR_FEN = 8

    # Then 350 points (8 × 350 = 2,800 fen > 2,500) would break the floor: no offer
    assert send(90) == 0
    # And at a 6-fen floor 350 points are honest (6 × 350 = 2,100 ≤ 2,500): an offer
    settings.POINT_VALUE_FLOOR_FEN = 6
    assert send(90) == 1
    assert WinBackOffer.objects.get().points_price == 350


def test_the_lapse_and_the_discount_are_settings(shopper, notebook, settings):
    settings.WIN_BACK_AFTER_DAYS = 30
    settings.WIN_BACK_DISCOUNT_PERCENT = 50

    assert send(30) == 1
    assert WinBackOffer.objects.get().points_price == 500


def test_the_pick_is_the_cheapest_reward_not_yet_affordable_else_the_dearest(make_reward):
    small, middle, large = (
        make_reward(points_price=p, face_value_fen=p * 5) for p in (100, 400, 900)
    )

    def terms(reward):
        return OfferTerms(reward, reward.points_price, reward.points_price, 30, 0)

    candidates = [terms(large), terms(small), terms(middle)]
    assert offer_terms_pick(candidates, spendable=150).reward == middle
    assert offer_terms_pick(candidates, spendable=1000).reward == large
    assert offer_terms_pick([], spendable=0) is None


def test_redeeming_at_the_offer_price_debits_the_offer_points(
    shopper, notebook, merchant, ledger_ok
):
    # Given the member's offer (700 instead of 1,000 points)
    send(90)
    offer = WinBackOffer.objects.get()
    before = standard(shopper).balance

    # When they redeem it on day 100
    with at(100):
        redemption = reward_redeem(
            member=shopper, reward=notebook, quantity=1, idempotency_key="offer", offer=offer
        )

    # Then 700 points move to the merchant's redemption account, and the offer is used
    assert (redemption.points_total, redemption.unit_points, redemption.base_points_price) == (
        700,
        700,
        1000,
    )
    assert redemption.percent_off == 30
    assert standard(shopper).balance == before - 700
    entries = dict(
        LedgerEntry.objects.filter(transaction=redemption.ledger_transaction).values_list(
            "account__code", "points"
        )
    )
    assert entries == {standard(shopper).code: -700, redemption_account(merchant).code: 700}
    assert redemption.ledger_transaction.breakdown["winback_offer"] == offer.pk
    offer.refresh_from_db()
    assert offer.redemption == redemption
    ledger_ok()


def test_an_offer_is_used_only_once(shopper, notebook, ledger_ok):
    send(90)
    offer = WinBackOffer.objects.get()
    with at(100):
        reward_redeem(member=shopper, reward=notebook, quantity=1, idempotency_key="a", offer=offer)
        with pytest.raises(OfferNotValid, match="already been used"):
            reward_redeem(
                member=shopper, reward=notebook, quantity=1, idempotency_key="b", offer=offer
            )

    assert Redemption.objects.count() == 1
    ledger_ok()


def test_another_member_cannot_redeem_the_offer(shopper, notebook, funded_member, ledger_ok):
    # Given an offer for the shopper, and another member with plenty of points
    send(90)
    offer = WinBackOffer.objects.get()
    stranger = funded_member(5000)

    # When the other member tries to use it
    with at(100), pytest.raises(OfferNotValid, match="not yours"):
        reward_redeem(
            member=stranger, reward=notebook, quantity=1, idempotency_key="x", offer=offer
        )

    # Then nothing is written and the offer is still the shopper's, unused
    assert standard(stranger).balance == 5000
    assert not Redemption.objects.exists()
    offer.refresh_from_db()
    assert offer.redemption is None
    ledger_ok()


def test_an_expired_offer_is_refused(shopper, notebook):
    send(90)
    offer = WinBackOffer.objects.get()
    before = standard(shopper).balance

    with at(120), pytest.raises(OfferNotValid, match="expired"):
        reward_redeem(
            member=shopper, reward=notebook, quantity=1, idempotency_key="late", offer=offer
        )

    assert standard(shopper).balance == before
    assert not Redemption.objects.exists()


def test_an_offer_is_for_one_unit_of_its_own_reward(shopper, notebook, make_reward):
    send(90)
    offer = WinBackOffer.objects.get()
    other_reward = make_reward(title="Other")

    with at(100):
        with pytest.raises(OfferNotValid, match="one unit"):
            reward_redeem(
                member=shopper, reward=notebook, quantity=2, idempotency_key="two", offer=offer
            )
        with pytest.raises(OfferNotValid, match="another reward"):
            reward_redeem(
                member=shopper, reward=other_reward, quantity=1, idempotency_key="o", offer=offer
            )
    assert not Redemption.objects.exists()


def test_the_command_and_the_task_send_offers(shopper, notebook, make_member, merchant):
    with at(0):
        second = make_member()
        buy(second, merchant, yuan=600)  # 600 points: the 700-point offer is 600 + ¥5
    out = StringIO()

    with at(90):
        call_command("send_winback_offers", stdout=out)
        assert send_winback_offers_task.delay().get() == 0

    assert out.getvalue().strip() == "Sent 2 win-back offers."
    assert WinBackOffer.objects.count() == 2


def test_the_job_runs_daily_in_beat():
    entry = django_settings.CELERY_BEAT_SCHEDULE["send-winback-offers"]
    assert entry["task"] == "redemption.tasks.send_winback_offers_task"
    schedule = entry["schedule"]  # a crontab: once a day at a fixed hour
    assert len(schedule.hour) == 1 and len(schedule.minute) == 1
    assert len(schedule.day_of_week) == 7 and len(schedule.day_of_month) == 31


# --- Pages ------------------------------------------------------------------------------


@pytest.fixture
def offer(shopper, notebook):
    send(90)
    return WinBackOffer.objects.get()


def test_the_member_sees_and_redeems_their_offer_on_the_reward_page(
    client, shopper, notebook, offer, ledger_ok
):
    client.force_login(shopper.user)
    with at(95):
        detail = client.get(f"/rewards/{notebook.pk}/?offer={offer.pk}")
        confirm = client.get(f"/rewards/{notebook.pk}/redeem/?quantity=1&offer={offer.pk}")
        token = confirm.content.decode().split('name="token" value="')[1][:32]
        done = client.post(
            f"/rewards/{notebook.pk}/redeem/", {"quantity": 1, "token": token, "offer": offer.pk}
        )

    assert detail.status_code == 200
    assert 'data-testid="offer-price">700<' in detail.content.decode()
    assert 'data-testid="total"><strong>700</strong>' in confirm.content.decode()
    assert done.status_code == 302
    redemption = Redemption.objects.get()
    assert (redemption.member, redemption.points_total) == (shopper, 700)
    ledger_ok()


def test_another_member_gets_404_for_the_offer(client, funded_member, notebook, offer):
    stranger = funded_member(5000)
    client.force_login(stranger.user)

    with at(95):
        detail = client.get(f"/rewards/{notebook.pk}/?offer={offer.pk}")
        confirm = client.get(f"/rewards/{notebook.pk}/redeem/?quantity=1&offer={offer.pk}")
        post = client.post(
            f"/rewards/{notebook.pk}/redeem/", {"quantity": 1, "token": "a" * 32, "offer": offer.pk}
        )

    assert [detail.status_code, confirm.status_code, post.status_code] == [404, 404, 404]
    assert not Redemption.objects.exists()


def test_my_redemptions_lists_open_offers_and_the_inbox_links_there(
    client, shopper, notebook, offer, django_assert_max_num_queries
):
    client.force_login(shopper.user)
    with at(95), django_assert_max_num_queries(12):
        page = client.get("/me/redemptions/")
    with at(125):
        later = client.get("/me/redemptions/")

    assert f'data-testid="offer-{offer.pk}"' in page.content.decode()
    assert f"?offer={offer.pk}" in page.content.decode()
    assert f'data-testid="offer-{offer.pk}"' not in later.content.decode()


def test_an_expired_offer_page_says_it_ended(client, shopper, notebook, offer):
    client.force_login(shopper.user)
    with at(121):
        detail = client.get(f"/rewards/{notebook.pk}/?offer={offer.pk}")

    body = detail.content.decode()
    assert detail.status_code == 200
    assert 'data-testid="offer-status"' in body and 'data-testid="redeem-offer"' not in body


# --- Concurrency (PostgreSQL) -----------------------------------------------------------


def test_two_workers_at_once_make_one_offer(transactional_db, make_member, merchant, make_reward):
    make_reward(points_price=1000, face_value_fen=6000)
    with at(0):
        member = make_member()
        buy(member, merchant, yuan=700)  # enough for the 700-point offer
    start = threading.Barrier(2)
    results = []

    def worker(_n):
        try:
            start.wait(30)
            # Explicit `now`: time-machine's clock is process-wide, not per thread.
            results.append(winback_offers_send(now=T0 + timedelta(days=90)))
        except Exception as error:  # noqa: BLE001 - any other outcome fails the test below
            results.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(results) == [0, 1]
    assert WinBackOffer.objects.count() == 1
    assert Notification.objects.filter(kind=Notification.Kind.WIN_BACK).count() == 1


def test_the_offer_redemption_is_a_normal_redeem_in_the_ledger(shopper, notebook, offer):
    with at(100):
        redemption = reward_redeem(
            member=shopper, reward=notebook, quantity=1, idempotency_key="k", offer=offer
        )
    assert redemption.ledger_transaction.kind == LedgerTransaction.Kind.REDEEM
    assert (redemption.schedule_id, redemption.schedule_name) == (
        None,
        offer.as_price().schedule_name,
    )
    assert Reward.objects.get(pk=notebook.pk).stock == 9


# --- 积分 + 少量现金: reachable offers only, with a small cash top-up (issue #20) -----------


def _terms(reward, points=None, cash=0):
    return OfferTerms(reward, reward.points_price, points or reward.points_price, 30, cash)


def test_the_pick_tops_up_missing_points_with_cash_at_the_floor_rate(make_reward):
    # Given a 700-point offer (¥60 worth), a member with 500 points, a 5-fen floor, ¥20 cap
    reward = make_reward(points_price=1000, face_value_fen=6000)

    terms = offer_terms_pick(
        [_terms(reward, points=700)], spendable=500, floor_fen=5, topup_max_fen=2000
    )

    # Then the offer is 500 points + ¥10 (200 points lacking × 5 fen)
    assert (terms.points, terms.cash_fen) == (500, 1000)


def test_a_reward_beyond_the_cash_cap_is_never_offered(make_reward):
    reward = make_reward(points_price=1000, face_value_fen=6000)

    # 700 − 200 = 500 points lacking × 5 fen = ¥25 > ¥20: out of reach
    assert (
        offer_terms_pick(
            [_terms(reward, points=700)], spendable=200, floor_fen=5, topup_max_fen=2000
        )
        is None
    )
    # With a ¥25 cap it is reachable: 200 points + ¥25
    terms = offer_terms_pick(
        [_terms(reward, points=700)], spendable=200, floor_fen=5, topup_max_fen=2500
    )
    assert (terms.points, terms.cash_fen) == (200, 2500)


def test_a_member_with_no_points_gets_no_cash_only_offer(make_reward):
    reward = make_reward(points_price=100, face_value_fen=1000)
    assert offer_terms_pick([_terms(reward, points=70)], spendable=0, floor_fen=5) is None
    assert offer_terms_pick([_terms(reward, points=70)], spendable=-300, floor_fen=5) is None


def test_every_sent_offer_is_within_the_members_balance_plus_the_cap(
    make_member, merchant, issuer, make_reward, settings
):
    # Given members holding 0..700 points and rewards of 300..2000 points at one merchant
    settings.WINBACK_CASH_TOPUP_MAX_FEN = 2000
    floor = django_settings.POINT_VALUE_FLOOR_FEN
    for price in (300, 600, 1000, 1500, 2000):
        make_reward(points_price=price, face_value_fen=price * 10)
    members = []
    with at(0):
        for held in (0, 50, 100, 200, 300, 450, 600, 700):
            member = make_member()
            buy(member, merchant, yuan=1)  # 1 point, and a purchase to lapse from
            if held:
                earn(member, issuer, held)
            members.append(member)

    send(90)

    # Then each offer is payable with the member's points plus at most ¥20, never over
    for offer in WinBackOffer.objects.select_related("reward", "member"):
        balance = standard(offer.member).balance
        assert offer.points_price <= balance
        assert offer.cash_price_fen - offer.reward.cash_price_fen <= 2000
        assert offer.reward.face_value_fen - offer.cash_price_fen >= floor * offer.points_price


def test_the_offer_page_shows_the_shortfall_to_the_offer_price(client, shopper, notebook, merchant):
    # Given an offer of 700 points, then the member spends all but 650 elsewhere
    send(90)
    offer = WinBackOffer.objects.get()
    from tests.points.helpers import spend

    client.force_login(shopper.user)
    client.cookies["django_language"] = "zh-hans"

    with at(91), translation.override("zh-hans"):
        spend(shopper, merchant, standard(shopper).balance - 650)
        body = client.get(f"/rewards/{notebook.pk}/?offer={offer.pk}").content.decode()

    assert "按专属价兑换还差 50 积分" in body  # 700 − 650, not 1,000 − 650
