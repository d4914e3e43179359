"""Login, dashboard, health check, and the demo-data command."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from points.models import LedgerTransaction, Member
from tests.points.helpers import earn

pytestmark = pytest.mark.django_db


def test_login_page_is_in_chinese_by_default(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert '<html lang="zh-CN">' in body
    assert "登录" in body


def test_login_page_is_available_in_english(client):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Log in" in response.content.decode()


def test_dashboard_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_dashboard_shows_both_balances(client, make_member, issuer, django_assert_max_num_queries):
    from points.models import Account
    from points.services.ledger import Posting, ledger_post

    member = make_member()
    earn(member, issuer, 128)
    green = Account.objects.get(member=member, kind=Account.Kind.GREEN)
    ledger_post(
        kind="green_earn",
        idempotency_key="g",
        member=member,
        postings=[Posting(green, 9), Posting(issuer, -9)],
    )
    client.force_login(member.user)

    with django_assert_max_num_queries(8):
        response = client.get("/")

    body = response.content.decode()
    assert 'data-testid="standard-balance">128<' in body
    assert 'data-testid="green-balance">9<' in body
    assert member.member_no in body


def test_staff_without_member_card_get_a_clear_message(client, django_user_model):
    user = django_user_model.objects.create_user(username="ops", password="pw", is_staff=True)
    client.force_login(user)
    assert "后台" in client.get("/").content.decode()


def test_wrong_password_shows_an_error_not_a_traceback(client, make_member):
    member = make_member()
    response = client.post(
        "/accounts/login/", {"username": member.user.username, "password": "wrong"}
    )
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()


def test_login_is_throttled_after_repeated_failures(client, make_member, settings):
    member = make_member()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": member.user.username, "password": "nope"})
    response = client.post(
        "/accounts/login/", {"username": member.user.username, "password": "pw-12345-long"}
    )
    assert response.status_code == 429


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "页面不存在" in response.content.decode()


def test_seed_demo_is_idempotent_and_leaves_a_clean_ledger(capsys):
    call_command("seed_demo")
    counts = (Member.objects.count(), LedgerTransaction.objects.count())
    call_command("seed_demo")
    assert (Member.objects.count(), LedgerTransaction.objects.count()) == counts

    demo = Member.objects.get(member_no="M00000001")
    assert demo.user.username == "demo" and demo.user.check_password("demo12345")
    assert demo.community.kind == "school"
    call_command("seal_ledger")
    call_command("verify_ledger")
    assert "Ledger OK" in capsys.readouterr().out


def test_demo_user_logs_in_and_sees_balances(client):
    call_command("seed_demo")
    response = client.post(
        "/accounts/login/", {"username": "demo", "password": "demo12345"}, follow=True
    )
    body = response.content.decode()
    balance = Member.objects.get(member_no="M00000001").accounts.get(kind="standard").balance
    assert balance > 0
    assert f'data-testid="standard-balance">{balance}<' in body
    assert reverse("dashboard") == response.redirect_chain[-1][0]
