"""A member logs in on a phone-sized Chromium and sees both balances, in Chinese."""

from django.core.management import call_command

from points.models import Member
from points.selectors import member_balances


def test_demo_member_logs_in_and_sees_both_balances(live_server, page):
    call_command("seed_demo")

    page.goto(f"{live_server.url}/accounts/login/")
    assert page.locator("h1").inner_text() == "登录"
    page.fill("#id_username", "demo")
    page.fill("#id_password", "demo12345")
    page.get_by_role("button", name="登录").click()

    page.wait_for_selector("[data-testid=standard-balance]")
    assert page.locator("[data-testid=member-no]").inner_text() == "M00000001"
    balances = member_balances(Member.objects.get(member_no="M00000001"))
    assert balances["standard"] > 0 and balances["green"] > 0
    assert page.locator("[data-testid=standard-balance]").inner_text() == str(balances["standard"])
    assert page.locator("[data-testid=green-balance]").inner_text() == str(balances["green"])
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_wrong_password_is_told_in_chinese(live_server, page):
    call_command("seed_demo")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "demo")
    page.fill("#id_password", "not-the-password")
    page.get_by_role("button", name="登录").click()
    alert = page.locator("[role=alert]").inner_text()
    assert "用户名" in alert or "密码" in alert
