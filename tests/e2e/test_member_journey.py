"""The member journey on a 390 px phone, in real Chromium: sign up, redeem, cancel, English.

Each test saves screenshots under its pytest-playwright output folder (test-results/).
"""

import re
from pathlib import Path

from django.core.management import call_command

from points.models import Member
from points.selectors import member_balances


def shot(page, output_path, name):
    path = Path(output_path) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000


def no_horizontal_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def log_in(page, base_url, username, password="demo12345"):
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("[data-testid=standard-balance]")


def standard_balance(page) -> int:
    return int(page.locator("[data-testid=standard-balance]").inner_text())


# Sign-up (with an SMS code) is in test_identity_journeys.py.


def test_demo_redeems_a_voucher_then_cancels_and_gets_the_points_back(
    live_server, page, output_path
):
    call_command("seed_demo")
    log_in(page, live_server.url, "demo")
    before = standard_balance(page)
    assert before == member_balances(Member.objects.get(member_no="M00000001"))["standard"]

    page.goto(f"{live_server.url}/rewards/")
    no_horizontal_scroll(page)
    shot(page, output_path, "03-catalog")
    page.get_by_role("link", name=re.compile("笔记本套装")).first.click()
    no_horizontal_scroll(page)
    page.get_by_role("button", name="兑换").click()
    shot(page, output_path, "04-confirm")
    page.locator("[data-testid=confirm]").click()

    page.goto(f"{live_server.url}/me/redemptions/")
    card = page.locator("[data-testid^=redemption-]").first
    paid = int(card.locator("[data-testid=points]").inner_text())
    assert paid == 400  # the winter-break price of the 500-point notebook set
    shot(page, output_path, "05-my-redemptions")
    page.goto(f"{live_server.url}/")
    assert standard_balance(page) == before - paid

    page.goto(f"{live_server.url}/me/redemptions/")
    page.locator("[data-testid=cancel]").first.click()
    page.goto(f"{live_server.url}/")
    assert standard_balance(page) == before
    shot(page, output_path, "06-after-cancel")


def test_a_voucher_shows_its_code_and_qr(live_server, page, output_path):
    call_command("seed_demo")
    log_in(page, live_server.url, "demo")
    page.goto(f"{live_server.url}/rewards/?merchant=greenleaf-demo")
    page.locator(".reward-title").first.click()
    page.get_by_role("button", name="兑换").click()
    page.locator("[data-testid=confirm]").click()
    page.goto(f"{live_server.url}/me/redemptions/")
    voucher = page.locator("[data-testid=voucher]").first
    assert len(voucher.locator("[data-testid=voucher-code]").inner_text()) >= 8
    assert voucher.locator("svg").count() == 1
    no_horizontal_scroll(page)
    shot(page, output_path, "07-voucher")


def test_switching_to_english(live_server, page, output_path):
    call_command("seed_demo")
    log_in(page, live_server.url, "demo")
    page.get_by_role("button", name="English").click()
    page.wait_for_selector("text=My points")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Green points" in page.content()
    no_horizontal_scroll(page)
    shot(page, output_path, "08-english")
