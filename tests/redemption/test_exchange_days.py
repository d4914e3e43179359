"""Exchange days and seasons, announced: a schedule is shown by its kind (开学季, 积分兑换日…)
plus free text; members are told 3 days ahead what will cost fewer points, by the real beat
schedule entry; the dashboard shows a banner on the day."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.beat import Scheduler
from django.core.exceptions import ValidationError

from config.celery_app import app
from points.models import Member, Notification
from redemption.models import PriceSchedule
from redemption.services.announcements import exchange_days_announce

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2026-03-15 10:30 in Shanghai: the beat entry's time, three days before the 18th.
ANNOUNCE_AT = datetime(2026, 3, 15, 10, 30, tzinfo=SHANGHAI)


@pytest.fixture
def exchange_day(merchant):
    return PriceSchedule.objects.create(
        merchant=merchant,
        kind=PriceSchedule.Kind.EXCHANGE_DAY,
        display_kind=PriceSchedule.DisplayKind.EXCHANGE_DAY,
        percent_off=10,
        day_of_month=18,
    )


def announcements():
    return list(Notification.objects.filter(kind="exchange_day").order_by("member_id"))


def test_a_schedule_is_shown_by_its_kind_plus_free_text(merchant):
    school = PriceSchedule(
        merchant=merchant, display_kind="back_to_school", name="笔记本", percent_off=20
    )
    assert school.display_name == "开学季 · 笔记本"
    assert PriceSchedule(merchant=merchant, display_kind="member_day").display_name == "会员日"
    assert PriceSchedule(merchant=merchant, display_kind="other", name="店庆").display_name == (
        "店庆"
    )


@pytest.mark.parametrize("display_kind", ["", "bogus", "x" * 50, "开学季"])
def test_an_unknown_display_kind_is_refused_by_the_form_validation(merchant, display_kind):
    schedule = PriceSchedule(
        merchant=merchant,
        display_kind=display_kind,
        percent_off=10,
        starts_on=ANNOUNCE_AT.date(),
        ends_on=ANNOUNCE_AT.date(),
    )
    with pytest.raises(ValidationError) as refused:
        schedule.full_clean()
    assert "display_kind" in refused.value.message_dict


def test_the_beat_entry_tells_members_three_days_ahead_what_will_be_cheaper(
    make_member, make_reward, exchange_day, django_capture_on_commit_callbacks
):
    notebook = make_reward(title="笔记本套装", points_price=500)
    chinese = make_member(email="zh@example.com")
    english = make_member()
    Member.objects.filter(pk=english.pk).update(language="en")
    app.loader.import_default_modules()
    scheduler = Scheduler(app, lazy=True)
    scheduler.merge_inplace(app.conf.beat_schedule)
    entry = scheduler.schedule["announce-exchange-days"]

    with time_machine.travel(ANNOUNCE_AT, tick=False):
        entry.last_run_at = ANNOUNCE_AT - timedelta(days=1)
        due, _next = entry.is_due()
        assert due  # the real entry is due at 10:30 Shanghai time
        with django_capture_on_commit_callbacks(execute=True):
            scheduler.apply_async(entry)

    zh, en = announcements()
    assert (zh.member_id, en.member_id) == (chinese.pk, english.pk)
    assert zh.title == "2026-03-18 晨光文具 Test积分兑换日：兑换最多少用 10% 积分"
    assert (
        zh.body == "3 天后（2026-03-18），以下奖品兑换所需积分更少：笔记本套装 450 积分（现价 500）"
    )
    assert en.title == "晨光文具 Test Points exchange day on 2026-03-18: up to 10% fewer points"
    assert "笔记本套装 450 points (now 500)" in en.body
    assert zh.email_status == Notification.EmailStatus.SENT
    assert notebook.pk > 0


def test_a_rerun_tells_nobody_twice_and_other_days_tell_nobody(
    make_member, make_reward, exchange_day
):
    make_reward(points_price=500)
    make_member()
    with time_machine.travel(ANNOUNCE_AT, tick=False):
        first = exchange_days_announce()
        second = exchange_days_announce()
    assert (first.notifications, second.notifications) == (1, 0)

    for day in (14, 16, 17, 18):  # 4, 2, 1 and 0 days before
        with time_machine.travel(ANNOUNCE_AT.replace(day=day), tick=False):
            assert exchange_days_announce().notifications == 0
    assert len(announcements()) == 1


def test_nothing_is_announced_when_a_bigger_discount_already_runs(
    make_member, make_reward, exchange_day, merchant
):
    reward = make_reward(points_price=500)
    make_member()
    season = PriceSchedule.objects.create(
        merchant=merchant,
        display_kind="back_to_school",
        percent_off=20,
        starts_on=ANNOUNCE_AT.date() - timedelta(days=10),
        ends_on=ANNOUNCE_AT.date() + timedelta(days=10),
    )
    season.rewards.add(reward)

    with time_machine.travel(ANNOUNCE_AT, tick=False):
        run = exchange_days_announce()

    assert (run.merchants, run.notifications) == (0, 0)


def test_an_inactive_schedule_or_merchant_announces_nothing(
    make_member, make_reward, exchange_day, merchant
):
    make_reward(points_price=500)
    make_member()
    PriceSchedule.objects.filter(pk=exchange_day.pk).update(active=False)
    with time_machine.travel(ANNOUNCE_AT, tick=False):
        assert exchange_days_announce().notifications == 0


def test_the_dashboard_shows_a_banner_on_the_exchange_day_only(
    client, make_member, make_reward, exchange_day
):
    make_reward(points_price=500)
    member = make_member()
    client.force_login(member.user)

    with time_machine.travel(ANNOUNCE_AT.replace(day=18), tick=False):
        on_the_day = client.get("/").content.decode()
    with time_machine.travel(ANNOUNCE_AT.replace(day=17), tick=False):
        the_day_before = client.get("/").content.decode()

    assert 'data-testid="exchange-day-banner"' in on_the_day
    assert "今天是积分兑换日" in on_the_day and "积分兑换日：兑换积分减 10%" in on_the_day
    assert 'data-testid="exchange-day-banner"' not in the_day_before
