"""Admin actions are thin adapters over the services; refusals become messages, not 500s."""

import pytest

from redemption.models import Redemption, Reward
from redemption.services.redemptions import reward_redeem
from tests.points.helpers import standard

pytestmark = pytest.mark.django_db


def act(admin_client, model, action, pks):
    return admin_client.post(
        f"/admin/redemption/{model}/",
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_merchant_cancel_action_returns_points_and_compensation(
    admin_client, funded_member, make_reward, ledger_ok
):
    member = funded_member(1000)
    redemption = reward_redeem(
        member=member, reward=make_reward(points_price=500), quantity=1, idempotency_key="a"
    )

    confirm_page = act(admin_client, "redemption", "merchant_cancel", [redemption.pk])
    redemption.refresh_from_db()
    assert redemption.status == "confirmed"  # nothing happens before the confirmation
    assert "id_reason" in confirm_page.content.decode()

    response = admin_client.post(
        "/admin/redemption/redemption/",
        {
            "action": "merchant_cancel",
            "_selected_action": [str(redemption.pk)],
            "confirm": "yes",
            "reason": "缺货",
        },
        follow=True,
    )

    redemption.refresh_from_db()
    assert (redemption.status, redemption.cancelled_by) == ("cancelled", "merchant")
    assert redemption.cancel_reason == "缺货" and redemption.compensation_points == 50
    assert standard(member).balance == 1050
    assert response.status_code == 200
    ledger_ok()


def test_fulfil_action_reports_refusals_without_failing_the_others(
    admin_client, funded_member, make_reward
):
    member = funded_member(1000)
    goods = reward_redeem(
        member=member,
        reward=make_reward(points_price=300, face_value_fen=1500),
        quantity=1,
        idempotency_key="g",
    )
    voucher_reward = make_reward(
        kind=Reward.Kind.VOUCHER, points_price=100, face_value_fen=1000, validity_days=7
    )
    voucher = reward_redeem(member=member, reward=voucher_reward, quantity=1, idempotency_key="v")

    response = act(admin_client, "redemption", "mark_fulfilled", [goods.pk, voucher.pk])

    assert Redemption.objects.get(pk=goods.pk).status == "fulfilled"
    assert Redemption.objects.get(pk=voucher.pk).status == "confirmed"
    assert len(messages_of(response)) == 2  # one refusal, one success


def test_mark_voucher_used_action_fulfils_the_redemption(admin_client, funded_member, make_reward):
    member = funded_member(1000)
    reward = make_reward(
        kind=Reward.Kind.VOUCHER, points_price=100, face_value_fen=1000, validity_days=7
    )
    redemption = reward_redeem(member=member, reward=reward, quantity=1, idempotency_key="v")
    voucher = redemption.vouchers.get()

    act(admin_client, "voucher", "mark_used", [voucher.pk])
    again = act(admin_client, "voucher", "mark_used", [voucher.pk])

    voucher.refresh_from_db()
    assert voucher.used_at is not None and voucher.used_by.startswith("user:")
    assert Redemption.objects.get(pk=redemption.pk).status == "fulfilled"
    assert again.status_code == 200 and len(messages_of(again)) == 1  # the refusal


def test_deactivate_action_hides_rewards(admin_client, make_reward):
    rewards = [make_reward(), make_reward()]

    act(admin_client, "reward", "deactivate", [r.pk for r in rewards])

    assert not Reward.objects.filter(active=True).exists()
    act(admin_client, "reward", "activate", [rewards[0].pk])
    assert list(Reward.objects.filter(active=True)) == [rewards[0]]
