"""Pickup codes and the merchant's fulfilment queue: every goods or service redemption has a
code; the merchant finds it by code (typed or scanned), marks it ready (the member is told)
and hands it over. Bad input is a 400 with a Chinese message, never a 500."""

import pytest
from django.core import mail

from points.models import Notification
from redemption.models import Redemption
from redemption.services.digests import merchant_digests_send
from redemption.services.redemptions import reward_redeem
from tests.admin.conftest import messages_of

pytestmark = pytest.mark.django_db

PICKUP = "/admin/redemption/redemption/pickup/"


def test_goods_get_a_pickup_code_and_vouchers_do_not(shop_a):
    goods, voucher = shop_a.redemption, shop_a.voucher_redemption
    assert len(goods.pickup_code) == 19 and goods.pickup_code.count("-") == 3
    assert voucher.pickup_code is None
    assert goods.fulfilment_stage == "waiting"


def test_merchant_finds_by_a_loosely_typed_code_marks_ready_and_hands_over(
    as_merchant_a, shop_a, shopper, ledger_ok
):
    code = shop_a.redemption.pickup_code
    typed = code.replace("-", " ").lower()

    found = as_merchant_a.post(PICKUP, {"code": typed})
    assert found.status_code == 200
    page = found.content.decode()
    assert code in page and "备货中" in page and "A Reward" in page

    ready = as_merchant_a.post(
        PICKUP, {"redemption": shop_a.redemption.pk, "action": "ready"}, follow=True
    )
    assert any("已备好" in m for m in messages_of(ready))
    assert Notification.objects.filter(member=shopper, kind="pickup").count() == 1

    as_merchant_a.post(PICKUP, {"redemption": shop_a.redemption.pk, "action": "hand_over"})

    redemption = Redemption.objects.get(pk=shop_a.redemption.pk)
    assert redemption.status == "fulfilled" and redemption.fulfilment_stage == "handed_over"
    ledger_ok()


def test_another_merchants_code_reads_like_one_that_does_not_exist(as_merchant_a, shop_b):
    response = as_merchant_a.post(PICKUP, {"code": shop_b.redemption.pickup_code})

    assert response.status_code == 400
    assert "未找到使用此取货码的兑换" in response.content.decode()


@pytest.mark.parametrize(
    "code",
    ["", "   ", "X" * 10_000, "-1", "9" * 40, "ABCD-EFGH", "０１２３", "\x00\x01"],
)
def test_a_bad_code_is_a_400_with_a_chinese_message(as_merchant_a, shop_a, code):
    response = as_merchant_a.post(PICKUP, {"code": code})

    assert response.status_code == 400
    body = response.content.decode()
    chinese = ("未找到使用此取货码的兑换", "该字段是必填项", "不超过 40 字符", "不允许是用空字符")
    assert any(message in body for message in chinese)


def test_a_code_that_is_not_utf8_is_a_400(as_merchant_a, shop_a):
    response = as_merchant_a.generic(
        "POST",
        PICKUP,
        b"code=%FF%FE%FA",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "fields",
    [
        {"redemption": "-1", "action": "hand_over"},
        {"redemption": "abc", "action": "hand_over"},
        {"redemption": "9" * 40, "action": "hand_over"},
        {"redemption": "99999999", "action": "hand_over"},
        {"redemption": "", "action": "ready"},
        {"redemption": "１", "action": "ready"},
    ],
)
def test_a_bad_redemption_id_is_a_400_with_a_chinese_message(as_merchant_a, shop_a, fields):
    response = as_merchant_a.post(PICKUP, fields)

    assert response.status_code == 400
    assert "没有这个兑换或操作" in " ".join(messages_of(response))


def test_a_post_naming_neither_code_nor_redemption_asks_for_the_code(as_merchant_a, shop_a):
    response = as_merchant_a.post(PICKUP, {"action": "ready"})

    assert response.status_code == 400
    assert "该字段是必填项" in response.content.decode()


def test_a_bad_action_or_another_merchants_redemption_changes_nothing(
    as_merchant_a, shop_a, shop_b
):
    for fields in (
        {"redemption": shop_a.redemption.pk, "action": "delete"},
        {"redemption": shop_a.redemption.pk},
        {"redemption": shop_b.redemption.pk, "action": "hand_over"},
    ):
        assert as_merchant_a.post(PICKUP, fields).status_code == 400
    assert Redemption.objects.get(pk=shop_b.redemption.pk).status == "confirmed"
    assert Redemption.objects.get(pk=shop_a.redemption.pk).status == "confirmed"


def test_handing_over_twice_is_refused_with_a_message_not_an_error(as_merchant_a, shop_a):
    fields = {"redemption": shop_a.redemption.pk, "action": "hand_over"}
    as_merchant_a.post(PICKUP, fields)

    again = as_merchant_a.post(PICKUP, fields)

    assert again.status_code == 400
    assert any("只有已确认的兑换才能" in m for m in messages_of(again))


def test_the_queue_lists_waiting_ready_and_handed_over(as_merchant_a, shop_a, shopper):
    second = reward_redeem(member=shopper, reward=shop_a.reward, quantity=1, idempotency_key="2")
    as_merchant_a.post(PICKUP, {"redemption": second.pk, "action": "ready"})

    counts = as_merchant_a.get(PICKUP).context["queue"]

    assert [(stage, count) for stage, _label, count in counts] == [
        ("waiting", 1),
        ("ready", 1),
        ("handed_over", 0),
    ]
    for stage in ("waiting", "ready", "handed_over", "bogus", "%FF", "x" * 5000):
        assert as_merchant_a.get(f"/admin/redemption/redemption/?stage={stage}").status_code in (
            200,
            302,
        )
    ready_list = as_merchant_a.get("/admin/redemption/redemption/?stage=ready")
    assert [r.pk for r in ready_list.context["cl"].result_list] == [second.pk]


def test_the_admin_index_shows_new_and_waiting_redemptions(as_merchant_a, shop_a):
    page = as_merchant_a.get("/admin/").content.decode()

    assert 'id="fulfilment-summary"' in page
    assert 'data-count="new">2<' in page  # the goods and the voucher redemption
    assert 'data-count="waiting">1<' in page
    assert "按取货码取货" in page


def test_merchant_cancel_asks_for_confirmation_and_a_reason(as_merchant_a, shop_a):
    url = "/admin/redemption/redemption/"
    chosen = {"action": "merchant_cancel", "_selected_action": [str(shop_a.redemption.pk)]}

    first = as_merchant_a.post(url, chosen)
    assert first.status_code == 200
    assert "以下兑换将被取消" in first.content.decode() and "40" in first.content.decode()

    for reason in ("", "   ", "x" * 256):
        refused = as_merchant_a.post(url, {**chosen, "confirm": "yes", "reason": reason})
        assert refused.status_code == 400
    assert Redemption.objects.get(pk=shop_a.redemption.pk).status == "confirmed"

    as_merchant_a.post(url, {**chosen, "confirm": "yes", "reason": "供应商断货"})
    redemption = Redemption.objects.get(pk=shop_a.redemption.pk)
    assert (redemption.status, redemption.cancel_reason) == ("cancelled", "供应商断货")


def test_the_daily_digest_emails_each_merchants_users(roles, shop_a, shop_b, merchant_a_user):
    merchant_a_user.email = "a@merchant.example"
    merchant_a_user.save()
    mail.outbox.clear()

    assert merchant_digests_send() == 1

    [email] = mail.outbox
    assert email.to == ["a@merchant.example"]
    assert email.subject == "[积分] A Merchant：新兑换 2 笔，待备货 1 笔"
    assert shop_a.redemption.pickup_code in email.body
    assert shop_b.redemption.pickup_code not in email.body


def test_the_digest_beat_entry_runs_the_task(roles, shop_a, merchant_a_user, settings):
    from config.celery_app import app

    app.loader.import_default_modules()
    merchant_a_user.email = "a@merchant.example"
    merchant_a_user.save()
    mail.outbox.clear()
    entry = settings.CELERY_BEAT_SCHEDULE["merchant-fulfilment-digest"]

    assert app.tasks[entry["task"]].apply().get() == 1
    assert len(mail.outbox) == 1


def test_my_redemptions_shows_the_code_qr_store_and_instructions(client, shopper, shop_a):
    shop_a.store.address = "上海市徐汇区 1 号"
    shop_a.store.opening_hours = "每天 09:00-21:00"
    shop_a.store.save()
    shop_a.reward.pickup_store = shop_a.store
    shop_a.reward.pickup_instructions = "请带身份证"
    shop_a.reward.save()
    client.force_login(shopper.user)

    page = client.get("/me/redemptions/").content.decode()

    assert shop_a.redemption.pickup_code in page and "<svg" in page
    for expected in ("A Store", "上海市徐汇区 1 号", "每天 09:00-21:00", "请带身份证", "备货中"):
        assert expected in page
