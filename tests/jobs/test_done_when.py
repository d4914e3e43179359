"""The issue's acceptance scenario, on the demo data."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from points.models import LedgerTransaction, Member
from points.selectors import member_balances
from points.services.accounts import issuance_account
from points.services.ledger import add_months
from tests.points.helpers import earn

pytestmark = pytest.mark.django_db


def test_a_lot_earned_12_months_and_a_day_ago_expires_once_from_the_demo_balance(
    settings, client, capsys, ledger_ok
):
    settings.POINTS_EXPIRY_MONTHS = 12
    call_command("seed_demo")
    demo = Member.objects.get(member_no="M00000001")
    now = timezone.now()
    earned_at = add_months(now, -12) - timedelta(days=1)
    old = earn(demo, issuance_account(), 345, created_at=earned_at, idempotency_key="old-lot")
    assert old.lots.get().expires_at < now
    before = member_balances(demo)["standard"]

    call_command("expire_points")
    after_first = member_balances(demo)["standard"]
    call_command("expire_points")

    assert after_first == before - 345
    assert member_balances(demo)["standard"] == after_first
    expired = LedgerTransaction.objects.filter(member=demo, kind="expire")
    assert expired.count() == 1
    out = capsys.readouterr().out
    assert "Expired 345 points from 1 lots in 1 transactions" in out
    assert "Expired 0 points from 0 lots in 0 transactions" in out
    client.force_login(demo.user)
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "过期" in page  # the history lists the expiry
    call_command("seal_ledger")
    ledger_ok()  # verify_ledger would name "old-lot": an earn with no purchase behind it
