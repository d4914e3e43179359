"""The pickup journey on a 390 px phone, in real Chromium: demo redeems the notebook set, sees
its pickup code and QR with the store, address, hours and instructions; the merchant finds it
by typing the code in the back office, marks it ready (the member is told) and hands it over.
And /stores/ (哪里可以用积分) at 390 px, axe-clean."""

import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command

from points.models import Member, Notification
from redemption.models import Redemption
from tests.admin.conftest import ensure_roles

pytestmark = pytest.mark.postgres


def shot(page, output_path, name):
    path = Path(output_path) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def no_horizontal_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def serious_violations(page):
    results = Axe().run(page)
    return [
        (v["id"], len(v["nodes"]))
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def log_in(page, base_url, username, password="demo12345"):
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def test_redeem_a_notebook_set_collect_it_by_code_and_be_told(
    live_server, browser, browser_context_args, page, output_path
):
    ensure_roles()  # an earlier transactional test may have flushed the groups' permissions
    call_command("seed_demo")

    # Given demo redeems the notebook set on their phone
    log_in(page, live_server.url, "demo")
    page.goto(f"{live_server.url}/rewards/")
    page.get_by_role("link", name=re.compile("笔记本套装")).first.click()
    page.get_by_role("button", name="兑换").click()
    page.locator("[data-testid=confirm]").click()

    # Then /me/redemptions/ shows the pickup code, its QR, where and how to collect it
    page.goto(f"{live_server.url}/me/redemptions/")
    pickup = page.locator("[data-testid=pickup]").first
    code = pickup.locator("[data-testid=pickup-code]").inner_text()
    assert re.fullmatch(r"[2-9A-Z]{4}(-[2-9A-Z]{4}){3}", code)
    assert pickup.locator("svg").count() == 1
    store = pickup.locator("[data-testid=pickup-store]").inner_text()
    assert "晨光文具 旗舰店" in store and "漕溪北路" in store and "09:00-21:00" in store
    assert "取货码" in pickup.locator("[data-testid=pickup-instructions]").inner_text()
    assert pickup.locator("[data-testid=pickup-stage]").inner_text() == "备货中"
    no_horizontal_scroll(page)
    shot(page, output_path, "01-pickup-code")

    # When the merchant, at the till, types the code (as a scanner would) in the back office
    till = browser.new_context(**browser_context_args)
    counter = till.new_page()
    counter.goto(f"{live_server.url}/admin/login/")
    counter.fill("#id_username", "merchant")
    counter.fill("#id_password", "demo12345")
    counter.locator("input[type=submit]").click()
    counter.wait_for_load_state()
    counter.goto(f"{live_server.url}/admin/")
    assert counter.locator("#fulfilment-summary [data-count=waiting]").inner_text() == "1"
    counter.get_by_role("link", name="按取货码取货").first.click()
    counter.fill("#id_code", code.lower().replace("-", " "))
    counter.get_by_role("button", name="查找").click()
    found = counter.locator("#found-redemption")
    assert "笔记本套装" in found.inner_text() and "备货中" in found.inner_text()
    counter.get_by_role("button", name="标记已备好（通知会员）").click()
    counter.wait_for_selector("text=已通知会员")
    shot(counter, output_path, "02-merchant-ready")

    # Then the member is told it is ready, with the code and the store
    demo = Member.objects.get(member_no="M00000001")
    told = Notification.objects.get(member=demo, kind="pickup")
    assert code in told.body and "晨光文具 旗舰店" in told.body
    page.goto(f"{live_server.url}/me/notifications/")
    assert "笔记本套装 ×1 已备好，可以取货了" in page.content()
    no_horizontal_scroll(page)
    shot(page, output_path, "03-member-told")

    # When the merchant finds it again and hands it over
    counter.fill("#id_code", code)
    counter.get_by_role("button", name="查找").click()
    counter.get_by_role("button", name="交付").click()
    counter.wait_for_selector("text=已交付")
    till.close()

    # Then it is handed over, on both sides
    assert Redemption.objects.get(pickup_code=code).status == "fulfilled"
    page.goto(f"{live_server.url}/me/redemptions/")
    stage = page.locator("[data-testid=pickup-stage]").first.inner_text()
    assert stage == "已交付"
    shot(page, output_path, "04-handed-over")


def test_stores_page_at_390_px_is_axe_clean_with_one_h1(live_server, page, output_path):
    call_command("seed_demo")

    page.goto(f"{live_server.url}/stores/")

    assert page.locator("h1").count() == 1
    assert page.locator("h1").inner_text() == "哪里可以用积分"
    body = page.locator("main").inner_text()
    for expected in ("晨光文具 Demo", "绿叶生活 Demo", "漕溪北路", "09:00-21:00", "笔记本套装"):
        assert expected in body
    no_horizontal_scroll(page)
    assert serious_violations(page) == []
    shot(page, output_path, "05-stores")
