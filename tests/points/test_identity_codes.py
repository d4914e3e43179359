"""One-time SMS codes: hashed, 6 digits, 5 minutes, 5 tries, one a minute and ten a day per
number, twenty an hour per client; bound to their purpose and number. Every limit answers a
clear Chinese message and writes nothing."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from points import sms
from points.models import IdentityEvent, SmsCode
from points.services.identity import (
    CodeAttemptsExceeded,
    CodeExpired,
    CodeRateLimited,
    CodeWrong,
    sms_code_send,
    sms_code_verify,
)
from tests.points.helpers import code_in
from tests.points.identity_fixtures import CARDLESS

pytestmark = pytest.mark.django_db

SIGNUP = SmsCode.Purpose.SIGNUP
LOGIN = SmsCode.Purpose.LOGIN
BAD_CODES = ["", "12345", "abcdef", "１２３４５６", "1234567", "9" * 5000, "-12345", "12 456"]


def send(mobile=CARDLESS, purpose=SIGNUP, client="ip:192.0.2.1"):
    sms_code_send(mobile=mobile, purpose=purpose, client=client)


def verify(code, mobile=CARDLESS, purpose=SIGNUP):
    sms_code_verify(mobile=mobile, purpose=purpose, code=code)


def wrong_code_for(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.fixture
def sent(sending, last_code):
    with sending():
        send()
    return last_code(CARDLESS)


def test_a_code_is_six_digits_in_a_chinese_text_and_stored_only_hashed(sent, sms_outbox):
    (message,) = sms_outbox
    assert message.to == CARDLESS and len(sent) == 6 and sent.isdigit()
    assert message.text.startswith("【积分通】验证码 ") and "5 分钟内有效" in message.text
    row = SmsCode.objects.get()
    assert sent not in row.code_hash and len(row.code_hash) == 64
    assert IdentityEvent.objects.get(kind="code_sent").mobile_masked == "137****0001"


def test_the_right_code_is_accepted_once(sent):
    verify(sent)
    with pytest.raises(CodeExpired):
        verify(sent)


@pytest.mark.parametrize("bad", BAD_CODES + [None])
def test_a_wrong_missing_non_digit_or_overlong_code_is_refused_and_counted(sent, bad):
    with pytest.raises(CodeWrong) as refused:
        verify(bad)
    assert "验证码错误" in str(refused.value)
    assert SmsCode.objects.get().failed_attempts == 1
    verify(sent)  # the right one still works after one wrong try


@pytest.mark.parametrize("bad", BAD_CODES)
def test_after_five_wrong_tries_even_the_right_code_is_refused(sent, bad):
    for _ in range(4):
        with pytest.raises(CodeWrong):
            verify(wrong_code_for(sent))
    with pytest.raises(CodeAttemptsExceeded):
        verify(bad or "000000" if bad != sent else wrong_code_for(sent))
    with pytest.raises(CodeAttemptsExceeded) as refused:
        verify(sent)
    assert "次数太多" in str(refused.value) or "错误次数" in str(refused.value)
    assert SmsCode.objects.get().failed_attempts == 5


@pytest.mark.parametrize("bad", [*BAD_CODES, "right"])
def test_a_code_expires_after_five_minutes(sent, bad, time_machine):
    time_machine.move_to(timezone.now() + timedelta(minutes=5, seconds=1))
    with pytest.raises(CodeExpired) as refused:
        verify(sent if bad == "right" else bad)
    assert "过期" in str(refused.value)
    assert SmsCode.objects.get().failed_attempts == 0  # nothing to count against


def test_a_code_is_still_good_just_before_five_minutes(sent, time_machine):
    time_machine.move_to(timezone.now() + timedelta(minutes=4, seconds=59))
    verify(sent)


def test_a_code_is_bound_to_its_purpose_and_number(sent, sending):
    with pytest.raises(CodeExpired):  # no login code was sent to this number
        verify(sent, purpose=LOGIN)
    with pytest.raises(CodeExpired):  # nor any code to another number
        verify(sent, mobile="13700000009")
    verify(sent)


def test_only_the_newest_code_counts(sent, sending, last_code, time_machine):
    time_machine.move_to(timezone.now() + timedelta(minutes=1, seconds=1))
    with sending():
        send()
    newest = last_code(CARDLESS)
    if newest != sent:
        with pytest.raises(CodeWrong):
            verify(sent)
    verify(newest)


def refused_writes_nothing(call, sms_outbox):
    codes, events, texts = SmsCode.objects.count(), IdentityEvent.objects.count(), len(sms_outbox)
    with pytest.raises(CodeRateLimited) as refused:
        call()
    assert (SmsCode.objects.count(), IdentityEvent.objects.count()) == (codes, events)
    assert len(sms_outbox) == texts
    return str(refused.value)


@pytest.mark.parametrize("bad", [*BAD_CODES, "right"])
def test_a_number_gets_at_most_one_code_a_minute(sent, bad, sms_outbox, time_machine):
    message = refused_writes_nothing(lambda: send(client="ip:192.0.2.99"), sms_outbox)
    assert "1 分钟" in message
    with pytest.raises(CodeRateLimited):  # another purpose counts too
        send(purpose=LOGIN)
    # the code already sent is unaffected by the refusal
    if bad == "right":
        verify(sent)
    else:
        with pytest.raises(CodeWrong):
            verify(bad)
    time_machine.move_to(timezone.now() + timedelta(seconds=61))
    send()


@pytest.mark.parametrize("bad", [*BAD_CODES, "right"])
def test_a_number_gets_at_most_ten_codes_a_day(bad, sms_outbox, time_machine, sending):
    start = timezone.now()
    for minute in range(10):
        time_machine.move_to(start + timedelta(minutes=2 * minute))
        with sending():
            send(client=f"ip:192.0.2.{minute}")
    time_machine.move_to(start + timedelta(minutes=30))
    message = refused_writes_nothing(lambda: send(client="ip:198.51.100.1"), sms_outbox)
    assert "今天" in message
    # the last code sent (18 minutes ago) has expired; a bad one is no better
    with pytest.raises(CodeExpired):
        verify(code_in(sms_outbox[-1]) if bad == "right" else bad)
    time_machine.move_to(start + timedelta(days=1, minutes=1))
    send()


@pytest.mark.parametrize("bad", [*BAD_CODES, "right"])
def test_a_client_asks_for_at_most_twenty_codes_an_hour(bad, sms_outbox, time_machine, sending):
    start = timezone.now()
    for index in range(20):
        with sending():
            send(mobile=f"1370000{index:04d}", client="ip:203.0.113.5")
    message = refused_writes_nothing(
        lambda: send(mobile="13800000000", client="ip:203.0.113.5"), sms_outbox
    )
    assert "太频繁" in message
    send(mobile="13800000000", client="ip:203.0.113.6")  # another client is not affected
    code = code_in(sms_outbox[-1])
    if bad == "right":
        verify(code, mobile="13700000019")
    else:
        with pytest.raises(CodeWrong):
            verify(bad, mobile="13700000019")
    time_machine.move_to(start + timedelta(hours=1, minutes=1))
    send(mobile="13800000001", client="ip:203.0.113.5")


@pytest.mark.parametrize("mobile", ["", "12345", "23700000001", "1" * 500, "１３７００００００01"])
def test_a_malformed_number_gets_no_code(mobile, sms_outbox):
    from points.services.members import InvalidMobile

    with pytest.raises(InvalidMobile):
        send(mobile=mobile)
    assert not SmsCode.objects.exists() and not sms_outbox


def test_the_file_backend_appends_one_json_line_per_text(tmp_path, settings, sending):
    settings.SMS_BACKEND = "points.sms.FileBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms" / "outbox.jsonl")
    with sending():
        send()
        send(mobile="13700000003")
    lines = (tmp_path / "sms" / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["to"] for line in lines] == [CARDLESS, "13700000003"]
    first = json.loads(lines[0])
    assert set(first) == {"to", "text", "sent_at"} and "验证码" in first["text"]
    assert not sms.outbox


def test_the_base_backend_must_be_subclassed():
    with pytest.raises(NotImplementedError):
        sms.BaseSmsBackend().send_messages([])
