"""Sign-up, card claim and SMS login on the website: the number is proven by a code before
anything is created or said about it, and the sign-up bonus is paid once per number ever."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from points import dynamic_code
from points.models import IdentityEvent, LedgerTransaction, Member, SmsCode
from points.services.members import member_enrol
from tests.points.helpers import standard
from tests.points.identity_fixtures import CARDED, CARDLESS

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-phrase-1"
FLOWS = ["/accounts/signup/", "/accounts/claim/", "/accounts/login/sms/"]


def ask(client, url, mobile, sending, **extra):
    with sending():
        return client.post(url, {"action": "send", "mobile": mobile, "consent": "on", **extra})


def answer(client, url, code, **fields):
    return client.post(url, {"action": "verify", "code": code, **fields})


def sign_up(client, mobile, sending, last_code, **fields):
    response = ask(client, "/accounts/signup/", mobile, sending)
    assert response.status_code == 302, response.content
    fields = {"username": "", "password1": PASSWORD, "password2": PASSWORD, **fields}
    return answer(client, "/accounts/signup/", last_code(mobile), **fields)


# --- Sign-up -----------------------------------------------------------------------------


def test_sign_up_sends_a_code_then_creates_the_card_with_the_bonus(
    client,
    sending,
    last_code,
    ledger_ok,
):
    response = ask(client, "/accounts/signup/", CARDLESS, sending)
    assert response.status_code == 302 and response["Location"] == "/accounts/signup/?sent=1"
    assert not Member.objects.exists()  # nothing before the code
    page = client.get(response["Location"]).content.decode()
    assert "验证码已发送" in page and "137****0001" in page and CARDLESS not in page

    response = answer(
        client,
        "/accounts/signup/",
        last_code(CARDLESS),
        username="xiaoli",
        password1=PASSWORD,
        password2=PASSWORD,
    )

    assert response.status_code == 302 and response["Location"] == "/"
    member = Member.objects.get(mobile=CARDLESS)
    assert member.user.username == "xiaoli" and member.user.check_password(PASSWORD)
    assert standard(member).balance == 100
    assert re.fullmatch(r"[1-9]\d{9}", member.member_no)
    assert IdentityEvent.objects.filter(kind="signup", member=member).exists()
    assert client.get("/").context["member"] == member
    ledger_ok()


def test_a_generated_username_never_contains_the_mobile(client, sending, last_code):
    sign_up(client, CARDLESS, sending, last_code)
    username = Member.objects.get(mobile=CARDLESS).user.username
    assert re.fullmatch(r"jf[0-9a-f]{10}", username) and CARDLESS[-4:] not in username


def test_the_sign_up_bonus_is_paid_once_per_number_across_delete_and_re_register(
    sending,
    last_code,
    time_machine,
    ledger_ok,
):
    sign_up(Client(), CARDLESS, sending, last_code, username="first")
    first = Member.objects.get(mobile=CARDLESS)
    assert standard(first).balance == 100
    # The account is closed: its number released (ledger rows keep the card itself).
    Member.objects.filter(pk=first.pk).update(mobile=None)
    get_user_model().objects.filter(pk=first.user_id).update(is_active=False)
    time_machine.move_to(timezone.now() + timedelta(minutes=2))

    sign_up(Client(), CARDLESS, sending, last_code, username="second")

    second = Member.objects.get(mobile=CARDLESS)
    assert second.pk != first.pk and second.user.username == "second"
    assert standard(second).balance == 0
    assert LedgerTransaction.objects.filter(kind="bonus").count() == 1
    ledger_ok()


def test_signing_up_with_a_number_that_has_a_card_logs_into_that_card_after_the_code(
    client,
    till_member,
    sending,
    last_code,
):
    response = sign_up(client, CARDED, sending, last_code, username="mine")
    assert response.status_code == 302
    assert Member.objects.count() == 1
    till_member.user.refresh_from_db()
    assert till_member.user.username == "mine" and till_member.user.check_password(PASSWORD)


# --- Claim -------------------------------------------------------------------------------


def test_a_till_customer_claims_the_card_and_sees_the_points_the_till_gave(
    client,
    till_member,
    sending,
    last_code,
):
    assert not till_member.user.has_usable_password()
    ask(client, "/accounts/claim/", CARDED, sending)
    response = answer(
        client,
        "/accounts/claim/",
        last_code(CARDED),
        username="wangfang",
        password1=PASSWORD,
        password2=PASSWORD,
    )

    assert response.status_code == 302
    user = get_user_model().objects.get(pk=till_member.user_id)
    assert user.username == "wangfang" and user.check_password(PASSWORD)
    page = client.get("/").content.decode()
    assert 'data-testid="standard-balance">100<' in page
    assert IdentityEvent.objects.filter(kind="claim", member=till_member).exists()
    fresh = Client()
    logged_in = fresh.post("/accounts/login/", {"username": "wangfang", "password": PASSWORD})
    assert logged_in.status_code == 302 and "_auth_user_id" in fresh.session


def test_claim_needs_a_username(client, till_member, sending, last_code):
    ask(client, "/accounts/claim/", CARDED, sending)
    response = answer(
        client, "/accounts/claim/", last_code(CARDED), password1=PASSWORD, password2=PASSWORD
    )
    assert response.status_code == 200 and "username" in response.context["form"].errors
    assert SmsCode.objects.get().used_at is None  # the code is not spent on a form error


def test_claiming_a_number_without_a_card_says_so_only_after_the_code(
    client,
    sending,
    last_code,
):
    ask(client, "/accounts/claim/", CARDLESS, sending)
    response = answer(
        client,
        "/accounts/claim/",
        last_code(CARDLESS),
        username="nobody",
        password1=PASSWORD,
        password2=PASSWORD,
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/signup/"
    assert not Member.objects.exists()


# --- SMS login ---------------------------------------------------------------------------


def test_sms_login_logs_the_member_in(client, till_member, sending, last_code):
    ask(client, "/accounts/login/sms/", CARDED, sending)
    response = answer(client, "/accounts/login/sms/", last_code(CARDED))
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").context["member"] == till_member
    assert IdentityEvent.objects.filter(kind="login_sms", member=till_member).exists()


def test_a_sign_up_code_does_not_log_anybody_in(client, till_member, sending, last_code):
    ask(client, "/accounts/signup/", CARDED, sending)
    code = last_code(CARDED)
    client.get("/accounts/login/sms/?restart=1")
    session = client.session
    session["identity_pending"] = {"purpose": "login", "mobile": CARDED}
    session.save()
    response = answer(client, "/accounts/login/sms/", code)
    assert response.status_code == 200 and "code" in response.context["form"].errors
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "code", ["", "12345", "abcdef", "1234567", "9" * 10_000, "-12345", "１２３４５６", None]
)
def test_sms_login_with_a_wrong_missing_non_digit_or_overlong_code_is_a_form_error(
    client, till_member, sending, code
):
    ask(client, "/accounts/login/sms/", CARDED, sending)
    data = {"action": "verify"} if code is None else {"action": "verify", "code": code}
    response = client.post("/accounts/login/sms/", data)
    assert response.status_code == 200 and "code" in response.context["form"].errors
    assert "_auth_user_id" not in client.session


# --- Enumeration -------------------------------------------------------------------------


def normalised(page: bytes, masked: str) -> bytes:
    page = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"CSRF", page)
    return page.replace(masked.encode(), b"MASKED")


@pytest.mark.parametrize("url", FLOWS)
def test_a_number_with_a_card_and_one_without_get_byte_identical_answers(url, till_member, sending):
    answers = []
    for mobile in (CARDED, CARDLESS):
        client = Client()
        form = client.get(url)
        sent = ask(client, url, mobile, sending)
        page = client.get(sent["Location"])
        answers.append(
            (
                normalised(form.content, "-"),
                sent.status_code,
                sent["Location"],
                sent.content,
                page.status_code,
                normalised(page.content, f"{mobile[:3]}****{mobile[-4:]}"),
            )
        )
    assert answers[0] == answers[1]
    assert (
        b"\xe9\xaa\x8c\xe8\xaf\x81\xe7\xa0\x81\xe5\xb7\xb2\xe5\x8f\x91\xe9\x80\x81"
        in (answers[0][5])
    )  # 验证码已发送


@pytest.mark.parametrize("url", FLOWS)
def test_a_wrong_code_gets_the_same_answer_for_a_number_with_a_card_and_one_without(
    url, till_member, sending
):
    answers = []
    for mobile in (CARDED, CARDLESS):
        client = Client()
        ask(client, url, mobile, sending)
        response = client.post(
            url,
            {
                "action": "verify",
                "code": "000000" if SmsCode.objects.filter(mobile=mobile).exists() else "",
                "username": "probe",
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )
        answers.append(
            (response.status_code, normalised(response.content, f"{mobile[:3]}****{mobile[-4:]}"))
        )
    # (a code of 000000 could be right once in a million: then the two differ, rightly)
    assert answers[0] == answers[1] or SmsCode.objects.filter(used_at__isnull=False).exists()


# --- Bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", FLOWS)
@pytest.mark.parametrize(
    "mobile", ["", "12345", "-1", "1" * 10_000, "23700000001", "１３７０００００００１"]
)
def test_a_malformed_mobile_is_a_form_error_and_sends_nothing(url, mobile, client, sms_outbox):
    response = client.post(url, {"action": "send", "mobile": mobile, "consent": "on"})
    assert response.status_code == 200 and "mobile" in response.context["form"].errors
    assert not sms_outbox and not SmsCode.objects.exists()


@pytest.mark.parametrize("url", FLOWS)
def test_non_utf8_bodies_are_answered_without_a_500(url, client, sms_outbox):
    response = client.post(
        url,
        b"action=send&mobile=\xff\xfe137&consent=\xc3",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code in (200, 400)
    assert not sms_outbox


def test_sign_up_needs_consent(client, sms_outbox):
    response = client.post("/accounts/signup/", {"action": "send", "mobile": CARDLESS})
    assert "consent" in response.context["form"].errors and not sms_outbox


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"password2": "different-pass-phrase"}, "password2"),
        ({"password1": "123", "password2": "123"}, "password1"),
        ({"password1": "", "password2": ""}, "password1"),
        ({"password1": "p" * 500, "password2": "p" * 500}, "password1"),
        ({"username": "x" * 200}, "username"),
        ({"username": "bad name!"}, "username"),
        ({"email": "not-an-email"}, "email"),
    ],
)
def test_sign_up_with_bad_credentials_shows_errors_and_keeps_the_code(
    client,
    sending,
    last_code,
    overrides,
    field,
):
    ask(client, "/accounts/signup/", CARDLESS, sending)
    data = {"username": "", "password1": PASSWORD, "password2": PASSWORD, **overrides}
    response = answer(client, "/accounts/signup/", last_code(CARDLESS), **data)
    assert response.status_code == 200 and field in response.context["form"].errors
    assert not Member.objects.exists()
    assert SmsCode.objects.get().used_at is None


def test_a_taken_username_is_refused(client, make_member, sending, last_code):
    make_member(username="taken")
    ask(client, "/accounts/signup/", CARDLESS, sending)
    response = answer(
        client,
        "/accounts/signup/",
        last_code(CARDLESS),
        username="TAKEN",
        password1=PASSWORD,
        password2=PASSWORD,
    )
    assert "username" in response.context["form"].errors


def test_the_resend_button_obeys_the_one_a_minute_limit(client, sending, sms_outbox, time_machine):
    ask(client, "/accounts/login/sms/", CARDLESS, sending)
    response = client.post("/accounts/login/sms/", {"action": "resend"})
    assert response.status_code == 200 and "1 分钟" in response.content.decode()
    time_machine.move_to(timezone.now() + timedelta(seconds=61))
    with sending():
        response = client.post("/accounts/login/sms/", {"action": "resend"})
    assert response.status_code == 302 and len(sms_outbox) == 2


def test_twenty_first_code_from_one_ip_gets_a_clear_message(sending):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for index in range(20):
        assert (
            ask(client, "/accounts/login/sms/", f"1390000{index:04d}", sending).status_code == 302
        )
    response = ask(client, "/accounts/login/sms/", "13900009999", sending)
    assert response.status_code == 200 and "太频繁" in response.content.decode()


# --- The card ------------------------------------------------------------------------------


def test_the_dashboard_shows_the_current_card_code_and_its_qr(client, make_member):
    member = make_member()
    client.force_login(member.user)
    page = client.get("/").content.decode()
    shown = re.search(r'id="card-code"[^>]*>([^<]+)<', page).group(1)
    assert shown.startswith(member.member_no)
    assert dynamic_code.code_verify(member.card_secret, shown[len(member.member_no) :])
    assert 'data-testid="member-qr"' in page and "<svg" in page


def test_every_member_has_their_own_card_secret(make_member):
    secrets = {make_member().card_secret for _ in range(5)}
    assert len(secrets) == 5


def test_till_enrolment_leaves_no_usable_password_and_no_mobile_in_the_username(db):
    member, created = member_enrol(mobile="13600001234", actor="terminal:1")
    assert created and not member.user.has_usable_password()
    assert "13600001234" not in member.user.username and "1234" not in member.user.username


def test_a_forged_forwarded_for_header_does_not_escape_the_ip_limit(sending, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for index in range(20):
        client = Client(REMOTE_ADDR="198.51.100.8", HTTP_X_FORWARDED_FOR=f"10.0.0.{index}")
        assert (
            ask(client, "/accounts/login/sms/", f"1390000{index:04d}", sending).status_code == 302
        )
    client = Client(REMOTE_ADDR="198.51.100.8", HTTP_X_FORWARDED_FOR="10.9.9.9")
    response = ask(client, "/accounts/login/sms/", "13900009999", sending)
    assert response.status_code == 200 and "太频繁" in response.content.decode()


def test_each_client_address_has_its_own_limit(sending):
    for index in range(20):
        client = Client(REMOTE_ADDR="203.0.113.50")
        assert (
            ask(client, "/accounts/login/sms/", f"1390000{index:04d}", sending).status_code == 302
        )
    other = Client(REMOTE_ADDR="203.0.113.51")
    assert ask(other, "/accounts/login/sms/", "13900009999", sending).status_code == 302
    assert SmsCode.objects.filter(client="ip:203.0.113.51").count() == 1


def test_a_failing_sms_backend_is_logged_and_the_answer_stays_the_same(
    client, sending, settings, caplog
):
    settings.SMS_BACKEND = "points.sms.FileBackend"
    settings.SMS_FILE_PATH = "/proc/no-such-dir/outbox.jsonl"  # cannot be created, even as root
    response = ask(client, "/accounts/signup/", CARDLESS, sending)
    assert response.status_code == 302 and response["Location"] == "/accounts/signup/?sent=1"
    assert any("on_commit" in record.getMessage() for record in caplog.records)


def test_a_closed_account_is_not_logged_in_by_sms(client, till_member, sending, last_code):
    get_user_model().objects.filter(pk=till_member.user_id).update(is_active=False)
    ask(client, "/accounts/login/sms/", CARDED, sending)
    response = answer(client, "/accounts/login/sms/", last_code(CARDED))
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in client.session
