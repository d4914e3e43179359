"""Who may open what (issue 11, part 5): every URL for six kinds of visitor, CSRF on every
POST form, hashed API keys compared in constant time, login throttling.

The admin rows for merchant A/B show today's behaviour (any back-office user reaches the
admin index); scoping the admin to a merchant's own rows is being finished elsewhere and is
marked to-extend in docs/reliability.md.
"""

import hashlib
import hmac
from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.test import Client
from rest_framework.test import APIClient

from merchants.models import MerchantMembership, Terminal, hash_api_key
from points.api import TerminalKeyAuthentication
from points.services.accounts import issuance_account
from redemption.services.redemptions import reward_redeem
from redemption.services.rewards import reward_create
from reports.models import GreenReport
from tests.points.conftest import make_shop
from tests.points.helpers import earn

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "member", "other_member", "merchant_a", "merchant_b", "staff")
PASSWORD = "pw-access-12345"

# url name -> expected status per role, in ROLES order. 302 = sent to the login page.
LOGIN = 302
TABLE = {
    "/healthz": (200, 200, 200, 200, 200, 200),
    "/accounts/login/": (200, 200, 200, 200, 200, 200),
    "/accounts/signup/": (200, 302, 302, 302, 302, 302),
    "/": (LOGIN, 200, 200, 200, 200, 200),
    "/points/history/": (LOGIN, 200, 200, 403, 403, 403),
    "/me/notifications/": (LOGIN, 200, 200, 403, 403, 403),
    "/rewards/": (LOGIN, 200, 200, 200, 200, 200),
    "/rewards/{reward}/": (LOGIN, 200, 200, 200, 200, 200),
    "/me/redemptions/": (LOGIN, 200, 200, 200, 200, 200),
    "/reports/green/": (LOGIN, 200, 200, 404, 404, 404),  # no member card: nothing to show
    "/reports/green/{report}/download/": (LOGIN, 200, 404, 404, 404, 404),
    "/staff/": (LOGIN, 403, 403, 403, 403, 200),
    "/staff/communities/": (LOGIN, 403, 403, 403, 403, 200),
    "/staff/settlement/": (LOGIN, 403, 403, 403, 403, 200),
    "/staff/audit/": (LOGIN, 403, 403, 403, 403, 200),
    "/staff/integrity/": (LOGIN, 403, 403, 403, 403, 200),
    "/staff/merchant/analytics/": (LOGIN, 403, 403, 200, 200, 403),
    # to-extend: merchant A/B admin rows (admin scoping to the merchant's own rows).
    "/admin/": (LOGIN, LOGIN, LOGIN, 200, 200, 200),
    "/api/v1/schema": (200, 200, 200, 200, 200, 200),
    "/api/v1/members/{member_no}/balance": (401, 401, 401, 401, 401, 401),
}
# POSTs (with a valid CSRF token); who may change what.
POST_TABLE = {
    "/me/redemptions/{redemption}/cancel/": (LOGIN, 302, 404, 404, 404, 404),
    "/me/notifications/read-all/": (LOGIN, 302, 302, 403, 403, 403),
    "/staff/integrity/run/": (LOGIN, 403, 403, 403, 403, 302),
}


@pytest.fixture
def world(make_member, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    users = get_user_model().objects
    terminal_a = make_shop("access-a", "jf_access_key_a_0001")
    terminal_b = make_shop("access-b", "jf_access_key_b_0001")
    merchant_a, merchant_b = terminal_a.store.merchant, terminal_b.store.merchant
    member = make_member(username="acc-member")
    other = make_member(username="acc-other")
    for user in (member.user, other.user):
        user.set_password(PASSWORD)
        user.save()
    merchant_staff, _ = Group.objects.get_or_create(name="Merchant staff")
    platform_staff, _ = Group.objects.get_or_create(name="Platform staff")
    for name, merchant in (("acc-merchant-a", merchant_a), ("acc-merchant-b", merchant_b)):
        user = users.create_user(username=name, password=PASSWORD, is_staff=True)
        user.groups.add(merchant_staff)
        MerchantMembership.objects.create(user=user, merchant=merchant)
    users.create_user(username="acc-staff", password=PASSWORD, is_staff=True).groups.add(
        platform_staff
    )
    earn(member, issuance_account(merchant_a), 1000)
    reward = reward_create(
        merchant=merchant_a, title="Notebook", points_price=100, face_value_fen=800
    )
    redemption = reward_redeem(member=member, reward=reward, quantity=1, idempotency_key="acc")
    report = GreenReport(
        member=member, period="month", period_start=date(2026, 1, 1), green_points=0
    )
    report.file.save("access-test.pdf", ContentFile(b"%PDF-1.4\n%test\n"), save=True)
    return {
        "reward": reward.pk,
        "redemption": redemption.pk,
        "report": report.pk,
        "member_no": member.member_no,
    }


def client_for(role):
    client = Client(enforce_csrf_checks=True)
    username = {
        "member": "acc-member",
        "other_member": "acc-other",
        "merchant_a": "acc-merchant-a",
        "merchant_b": "acc-merchant-b",
        "staff": "acc-staff",
    }.get(role)
    if username:
        client.force_login(
            get_user_model().objects.get(username=username),
            backend="django.contrib.auth.backends.ModelBackend",
        )
    return client


def csrf_token(client):
    client.get("/accounts/login/")
    return client.cookies["csrftoken"].value


def test_every_url_answers_each_kind_of_visitor_as_the_table_says(world):
    wrong = []
    for role_index, role in enumerate(ROLES):
        client = client_for(role)
        for pattern, expected in TABLE.items():
            url = pattern.format(**world)
            status = client.get(url).status_code
            if status != expected[role_index]:
                wrong.append(f"GET {url} as {role}: {status}, expected {expected[role_index]}")
    assert not wrong, "\n".join(wrong)


def test_every_post_answers_each_kind_of_visitor_as_the_table_says(world):
    wrong = []
    for role_index, role in enumerate(ROLES):
        for pattern, expected in POST_TABLE.items():
            client = client_for(role)
            token = csrf_token(client)
            url = pattern.format(**world)
            status = client.post(url, {"csrfmiddlewaretoken": token}).status_code
            if status != expected[role_index]:
                wrong.append(f"POST {url} as {role}: {status}, expected {expected[role_index]}")
    assert not wrong, "\n".join(wrong)


POST_FORMS = [
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password_reset/",
    "/rewards/{reward}/redeem/",
    "/me/redemptions/{redemption}/cancel/",
    "/me/notifications/read-all/",
    "/staff/integrity/run/",
    "/staff/audit/export/",
    "/admin/login/",
]


def test_every_post_form_refuses_a_request_without_its_csrf_token(world):
    for role in ("anonymous", "member", "staff"):
        client = client_for(role)
        for pattern in POST_FORMS:
            response = client.post(pattern.format(**world), {"quantity": 1})
            assert response.status_code == 403, (role, pattern, response.status_code)


def test_api_keys_are_stored_only_as_their_sha256():
    terminal = Terminal(name="Till")
    terminal.set_key("jf_secret_key_value_0001")
    assert terminal.key_hash == hashlib.sha256(b"jf_secret_key_value_0001").hexdigest()
    assert "jf_secret_key_value_0001" not in {str(v) for v in vars(terminal).values()}


def test_the_terminal_key_is_compared_in_constant_time(db, monkeypatch):
    make_shop("access-c", "jf_access_key_c_0001")
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("points.api.hmac.compare_digest", spy)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer jf_access_key_c_0001")
    assert client.get("/api/v1/members/M404/balance").status_code == 400  # authenticated
    digest = hash_api_key("jf_access_key_c_0001")
    assert compared == [(digest, digest)]
    assert TerminalKeyAuthentication  # the class under test is the one the API uses
    client.credentials(HTTP_AUTHORIZATION="Bearer jf_wrong_key")
    assert client.get("/api/v1/members/M404/balance").status_code == 401


def test_login_is_throttled_after_repeated_failures(world, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "acc-member", "password": "wrong"})
    locked = client.post("/accounts/login/", {"username": "acc-member", "password": PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
