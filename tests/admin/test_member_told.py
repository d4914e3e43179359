"""Every change a member did not make puts a message in their inbox (and an email when they
have an address), written in the member's language when it is sent."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from points.models import Member, Notification
from points.services.adjustments import adjustment_request
from points.services.purchases import RefundLineRequest, purchase_refund
from redemption.services.redemptions import redemption_mark_ready, voucher_use
from tests.admin.conftest import client_for
from tests.points.helpers import earn

pytestmark = pytest.mark.django_db


def told(member, kind):
    return list(Notification.objects.filter(member=member, kind=kind).order_by("id"))


def cancel_as_merchant(client, redemption, reason):
    return client.post(
        "/admin/redemption/redemption/",
        {
            "action": "merchant_cancel",
            "_selected_action": [str(redemption.pk)],
            "confirm": "yes",
            "reason": reason,
        },
    )


def test_a_refund_tells_the_member_what_was_taken_back(
    shopper, shop_a, ledger_ok, django_capture_on_commit_callbacks
):
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        refund = purchase_refund(
            merchant=shop_a.merchant,
            receipt_no="A-R1",
            refund_no="RF-1",
            lines=[RefundLineRequest(line_no=1, quantity=1)],
        )

    [notice] = told(shopper, "refund")
    assert refund.points > 0
    assert notice.title == f"A Merchant 退货：扣回 {refund.points} 积分"
    assert "A-R1" in notice.body and "RF-1" in notice.body
    assert [m.subject for m in mail.outbox] == [f"[积分] {notice.title}"]
    assert "您好" in mail.outbox[0].body
    ledger_ok()


def test_a_repeated_refund_number_tells_nobody_twice(shopper, shop_a):
    for _ in range(2):
        purchase_refund(
            merchant=shop_a.merchant,
            receipt_no="A-R1",
            refund_no="RF-1",
            lines=[RefundLineRequest(line_no=1, quantity=1)],
        )
    assert len(told(shopper, "refund")) == 1


def test_a_merchant_cancel_tells_the_reason_points_and_compensation(
    shopper, shop_a, merchant_a_user, ledger_ok
):
    cancel_as_merchant(client_for(merchant_a_user), shop_a.redemption, "门店缺货")

    [notice] = told(shopper, "redemption")
    assert notice.title == "A Merchant 取消了您的兑换：A Reward"
    assert "门店缺货" in notice.body and "400 积分" in notice.body and "补偿 40 积分" in notice.body
    assert notice.link.endswith(f"#redemption-{shop_a.redemption.pk}")
    ledger_ok()


def test_a_member_cancel_sends_no_message(client, shopper, shop_a):
    client.force_login(shopper.user)
    client.post(f"/me/redemptions/{shop_a.redemption.pk}/cancel/")
    assert told(shopper, "redemption") == []


def test_an_adjustment_tells_the_member_with_its_reason(shopper, shop_a, platform_user, ledger_ok):
    adjustment_request(
        member=shopper, points=-30, reason="重复计分更正", requested_by=platform_user
    )

    [notice] = told(shopper, "adjustment")
    assert notice.title == "您的账户扣减了 30 积分"
    assert notice.body == "工作人员调整了您的积分。原因：重复计分更正"
    ledger_ok()


def test_expired_points_are_announced_once_after_the_expiry_run(
    make_member, issuer, ledger_ok, django_capture_on_commit_callbacks
):
    member = make_member(email="m@example.com")
    earn(member, issuer, 70, expires_at=timezone.now() - timedelta(days=1))

    with django_capture_on_commit_callbacks(execute=True):
        call_command("expire_points", stdout=open("/dev/null", "w"))
        call_command("expire_points", stdout=open("/dev/null", "w"))  # tells nobody twice

    [notice] = told(member, "expired")
    assert notice.title == "70 积分已过期"
    assert "70" in notice.body and notice.email_status == Notification.EmailStatus.SENT
    ledger_ok()


def test_a_used_voucher_tells_the_member(shopper, shop_a):
    voucher_use(voucher=shop_a.voucher, actor="user:merchant-a")

    [notice] = told(shopper, "redemption")
    assert notice.title == f"代金券 {shop_a.voucher.code} 已使用"
    assert "A Merchant" in notice.body and "如非本人操作" in notice.body


def test_ready_for_pickup_tells_the_code_store_address_hours_and_instructions(shopper, shop_a):
    shop_a.store.address = "上海市徐汇区 1 号"
    shop_a.store.opening_hours = "每天 09:00-21:00"
    shop_a.store.save()
    shop_a.reward.pickup_store = shop_a.store
    shop_a.reward.pickup_instructions = "请带身份证"
    shop_a.reward.save()

    redemption_mark_ready(redemption=shop_a.redemption)
    redemption_mark_ready(redemption=shop_a.redemption)  # again: no second message

    [notice] = told(shopper, "pickup")
    assert notice.title == "A Reward ×1 已备好，可以取货了"
    for expected in (
        shop_a.redemption.pickup_code,
        "A Store",
        "上海市徐汇区 1 号",
        "每天 09:00-21:00",
        "请带身份证",
    ):
        assert expected in notice.body


def test_an_english_member_is_told_in_english_inbox_and_email(
    shopper, shop_a, merchant_a_user, django_capture_on_commit_callbacks
):
    Member.objects.filter(pk=shopper.pk).update(language="en")
    shopper.refresh_from_db()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        cancel_as_merchant(client_for(merchant_a_user), shop_a.redemption, "Out of stock")

    [notice] = told(shopper, "redemption")
    assert notice.title == "A Merchant cancelled your redemption of A Reward"
    assert "40 points as compensation" in notice.body
    [email] = mail.outbox
    assert email.subject == f"[Points] {notice.title}"
    assert email.body.startswith("Hello ") and "您好" not in email.body


def test_logging_in_remembers_the_members_language(client, make_member):
    member = make_member(username="lang-member")
    client.cookies["django_language"] = "en"

    client.post("/accounts/login/", {"username": "lang-member", "password": "pw-12345-long"})

    member.refresh_from_db()
    assert member.language == "en"


def test_a_member_with_an_unknown_language_is_told_in_chinese(shopper, shop_a):
    Member.objects.filter(pk=shopper.pk).update(language="xx")
    shopper.refresh_from_db()

    voucher_use(voucher=shop_a.voucher)

    assert told(shopper, "redemption")[0].title.startswith("代金券")


def test_switching_language_on_the_site_is_remembered_for_later_messages(client, make_member):
    member = make_member()
    client.force_login(member.user)

    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    member.refresh_from_db()
    assert response.status_code == 302 and member.language == "en"
    assert response.cookies["django_language"].value == "en"


@pytest.mark.parametrize("language", ["", "xx", "e" * 5000, "-1", "zh-hans\x00"])
def test_an_unknown_language_changes_nothing_and_is_never_a_500(client, make_member, language):
    member = make_member()
    client.force_login(member.user)

    response = client.post("/i18n/setlang/", {"language": language, "next": "/"})

    member.refresh_from_db()
    assert response.status_code in (302, 204) and member.language == "zh-hans"


def test_the_language_switch_needs_a_post(client):
    assert client.get("/i18n/setlang/?language=en").status_code == 405


def test_the_reward_page_tells_where_and_how_to_collect_it(client, shopper, shop_a):
    shop_a.store.address = "上海市徐汇区 1 号"
    shop_a.store.save()
    shop_a.reward.pickup_store = shop_a.store
    shop_a.reward.pickup_instructions = "请带身份证"
    shop_a.reward.save()
    client.force_login(shopper.user)

    page = client.get(f"/rewards/{shop_a.reward.pk}/").content.decode()

    assert "A Store" in page and "上海市徐汇区 1 号" in page and "请带身份证" in page
