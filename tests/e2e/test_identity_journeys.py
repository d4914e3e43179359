"""Identity as a new user meets it, in real Chromium at 390 px: sign up with a code, claim a
card a till enrolled, log in by SMS. Codes are read from the file SMS backend's
var/sms/outbox.jsonl (here under the test's temporary folder), as a `make run` user would.
"""

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from points.models import Member
from tests.points.conftest import POS_KEY, make_shop

pytestmark = pytest.mark.postgres

PASSWORD = "green-leaf-2026!"


@pytest.fixture
def outbox(settings, tmp_path) -> Path:
    path = tmp_path / "var" / "sms" / "outbox.jsonl"
    settings.SMS_BACKEND = "points.sms.FileBackend"
    settings.SMS_FILE_PATH = str(path)
    return path


def code_from(outbox: Path, mobile: str) -> str:
    lines = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    text = [line for line in lines if line["to"] == mobile][-1]["text"]
    return re.search(r"验证码 (\d{6})", text).group(1)


def shot(page, output_path, name):
    path = Path(output_path) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def fits(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def send_code(page, url, mobile, consent=False):
    page.goto(url)
    page.fill("#id_mobile", mobile)
    if consent:
        page.check("#id_consent")
    fits(page)
    page.get_by_role("button", name="发送验证码").click()
    page.wait_for_selector("[data-testid=code-sent]")
    assert "验证码已发送" in page.locator("[data-testid=code-sent]").inner_text()
    fits(page)


def test_sign_up_with_a_code_from_the_outbox_file(live_server, page, outbox, output_path):
    send_code(page, f"{live_server.url}/accounts/signup/", "13700001111", consent=True)
    shot(page, output_path, "01-code-sent")
    page.fill("#id_code", code_from(outbox, "13700001111"))
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.get_by_role("button", name="创建我的会员卡").click()

    page.wait_for_selector("[data-testid=standard-balance]")
    assert page.locator("[data-testid=standard-balance]").inner_text() == "100"
    assert "注册奖励积分已到账" in page.locator(".messages").inner_text()
    member = Member.objects.get(mobile="13700001111")
    assert page.locator("#card-code").inner_text().startswith(member.member_no)
    assert "13700001111" not in member.user.username
    fits(page)
    shot(page, output_path, "02-dashboard")


def test_a_till_enrols_then_the_customer_claims_the_card_and_the_till_reads_the_card_code(
    live_server, page, outbox, output_path, time_machine
):
    make_shop("identity-e2e", POS_KEY)
    till = APIClient()
    till.credentials(HTTP_AUTHORIZATION=f"Bearer {POS_KEY}")

    def enrol(body, key):
        return till.post("/api/v1/members", body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    mobile = "13700002222"
    assert enrol({"mobile": mobile, "consent": True}, "e1").status_code == 202
    enrolled = enrol(
        {"mobile": mobile, "consent": True, "sms_code": code_from(outbox, mobile)}, "e2"
    )
    assert enrolled.status_code == 201
    member_no = enrolled.json()["member_no"]
    bought = till.post(
        "/api/v1/purchases",
        {
            "member_no": member_no,
            "receipt_no": "E2E-1",
            "occurred_at": (timezone.localtime() - timedelta(minutes=1)).isoformat(),
            "lines": [{"line_no": 1, "category": "pens", "quantity": 1, "amount_fen": 5000}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="p1",
    )
    assert bought.status_code == 201, bought.content
    balance = bought.json()["balance"]
    # One code a minute per number: the customer tries the website a little later.
    time_machine.move_to(timezone.now() + timedelta(seconds=61), tick=True)

    send_code(page, f"{live_server.url}/accounts/claim/", mobile)
    page.fill("#id_code", code_from(outbox, mobile))
    page.fill("#id_username", "wangfang")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    shot(page, output_path, "03-claim")
    page.get_by_role("button", name="认领我的会员卡").click()

    page.wait_for_selector("[data-testid=standard-balance]")
    assert page.locator("[data-testid=standard-balance]").inner_text() == str(balance)
    fits(page)
    shot(page, output_path, "04-claimed")

    card_code = page.locator("#card-code").inner_text().strip()
    url = f"/api/v1/members/{member_no}/balance"
    assert till.get(url).status_code == 403
    read = till.get(url, {"card_code": card_code})
    assert read.status_code == 200 and read.json()["balance"] == balance


def test_log_in_with_an_sms_code(live_server, page, outbox, output_path):
    from points.services.members import member_enrol

    member, _ = member_enrol(mobile="13700003333", actor="terminal:test")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="短信验证码登录").first.click()
    send_code(page, page.url, "13700003333")
    page.fill("#id_code", code_from(outbox, "13700003333"))
    page.get_by_role("button", name="登录").last.click()

    page.wait_for_selector("[data-testid=standard-balance]")
    assert page.locator("#card-code").inner_text().startswith(member.member_no)
    fits(page)
    shot(page, output_path, "05-sms-login")
