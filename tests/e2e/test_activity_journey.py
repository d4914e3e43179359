"""A school's recycling day on 390 px phones, in real Chromium: the organiser creates it,
staff approve it, two members check in with the rotating code, the organiser confirms the
attendance after the end, and each member gets the green points once."""

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from activities.models import Activity
from points.models import Account, LedgerTransaction, Member
from reports.periods import parse_month
from reports.services.green import green_report_render

pytestmark = pytest.mark.postgres


def shot(page, output_path, name):
    path = Path(output_path) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def phone(browser, browser_context_args):
    return browser.new_context(**browser_context_args).new_page()


def log_in(page, url, username):
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", "demo12345")
    with page.expect_navigation():
        page.locator("[type=submit]").last.click()
    assert "login" not in page.url, page.url


def green(username):
    member = Member.objects.get(user__username=username)
    return Account.objects.get(member=member, kind=Account.Kind.GREEN).balance


def test_recycling_day_created_approved_attended_and_confirmed(
    live_server, browser, browser_context_args, output_path
):
    call_command("seed_demo")
    base = live_server.url
    now = timezone.localtime()
    starts, ends = now - timedelta(minutes=10), now + timedelta(minutes=30)

    organiser = phone(browser, browser_context_args)
    log_in(organiser, f"{base}/admin/login/?next=/admin/", "organiser")
    organiser.goto(f"{base}/admin/activities/activity/add/")
    organiser.fill("#id_title", "校园节能周")
    organiser.select_option("#id_kind", "energy")
    organiser.fill("#id_place", "晨光实验小学 礼堂")
    organiser.fill("#id_starts_at_0", starts.strftime("%Y-%m-%d"))
    organiser.fill("#id_starts_at_1", starts.strftime("%H:%M:%S"))
    organiser.fill("#id_ends_at_0", ends.strftime("%Y-%m-%d"))
    organiser.fill("#id_ends_at_1", ends.strftime("%H:%M:%S"))
    organiser.fill("#id_points", "30")
    organiser.fill("#id_co2e_grams", "800")
    organiser.fill("#id_co2e_source", "每人关灯节电约 1 kWh")
    organiser.fill("#id_capacity", "40")
    with organiser.expect_navigation():
        organiser.locator("[name=_save]").click()
    activity = Activity.objects.get(title="校园节能周")
    assert activity.status == Activity.Status.PENDING
    assert "晨光实验小学" in activity.community.name

    staff = phone(browser, browser_context_args)
    log_in(staff, f"{base}/admin/login/?next=/admin/", "staff")
    staff.goto(f"{base}/admin/activities/activity/")
    staff.check(f"input[name=_selected_action][value='{activity.pk}']")
    staff.select_option("select[name=action]", "approve")
    with staff.expect_navigation():
        staff.locator("button[name=index]").click()
    activity.refresh_from_db()
    assert activity.is_approved

    organiser.goto(f"{base}/activities/{activity.pk}/code/")
    assert organiser.locator("[data-testid=checkin-qr] svg").count() == 1
    shot(organiser, output_path, "01-organiser-code")
    before = {name: green(name) for name in ("demo", "xiaoming")}
    for name in before:
        code = organiser.locator("#checkin-code").inner_text().strip()
        member = phone(browser, browser_context_args)
        log_in(member, f"{base}/accounts/login/", name)
        member.goto(f"{base}/activities/")
        member.get_by_role("link", name="签到").first.wait_for()
        member.goto(f"{base}/activities/{activity.pk}/check-in/")
        member.fill("#id_code", code)
        with member.expect_navigation():
            member.get_by_role("button", name="签到").click()
        member.wait_for_selector("[data-testid=checked-in]")
        assert member.evaluate("document.documentElement.scrollWidth") <= 390
        shot(member, output_path, f"02-{name}-checked-in")

    with time_machine.travel(activity.ends_at + timedelta(minutes=1), tick=True):
        organiser.goto(f"{base}/activities/{activity.pk}/attendance/")
        with organiser.expect_navigation():
            organiser.locator("[data-testid=confirm-attendance]").click()
        organiser.wait_for_selector("[data-testid=confirmed]")
        shot(organiser, output_path, "03-attendance-confirmed")
        organiser.reload()
        assert organiser.locator("[data-testid=confirm-attendance]").count() == 0

    assert {name: green(name) - before[name] for name in before} == {"demo": 30, "xiaoming": 30}
    assert LedgerTransaction.objects.filter(kind="green_activity").count() == 2

    # The member's monthly green PDF names the activity with its points and CO₂e.
    month = timezone.localtime(Activity.objects.get(pk=activity.pk).confirmed_at).strftime("%Y-%m")
    pdf, figures = green_report_render(
        member=Member.objects.get(user__username="demo"), period=parse_month(month)
    )
    assert (figures.activity_points, figures.activity_kg) == (30, 0.8)
    path = Path(output_path) / "green.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout
    assert "校园节能周" in text.decode()
