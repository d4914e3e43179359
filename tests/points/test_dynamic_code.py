"""The dynamic code (RFC 6238 TOTP, 60 s steps): this step and the previous one only."""

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from points import dynamic_code

AT = datetime(2026, 12, 5, 4, 0, 30, tzinfo=UTC)


@pytest.fixture
def secret():
    return dynamic_code.secret_new()


def test_secrets_are_random_base32(secret):
    assert len(secret) == 32 and secret != dynamic_code.secret_new()
    pyotp.TOTP(secret).now()  # a valid base32 secret


def test_the_code_is_rfc6238_totp_with_60_second_steps(secret):
    assert dynamic_code.code_now(secret, at=AT) == pyotp.TOTP(secret, interval=60).at(AT)
    assert len(dynamic_code.code_now(secret, at=AT)) == 6


def test_the_current_and_previous_steps_are_accepted(secret):
    assert dynamic_code.code_verify(secret, dynamic_code.code_now(secret, at=AT), at=AT)
    previous = dynamic_code.code_now(secret, at=AT - timedelta(seconds=60))
    assert dynamic_code.code_verify(secret, previous, at=AT)


def test_a_code_two_steps_old_or_from_the_future_is_refused(secret):
    current = dynamic_code.code_now(secret, at=AT)
    for delta in (-120, -180, 60, 120):
        other = dynamic_code.code_now(secret, at=AT + timedelta(seconds=delta))
        if other in (current, dynamic_code.code_now(secret, at=AT - timedelta(seconds=60))):
            continue  # a 1-in-a-million collision says nothing
        assert not dynamic_code.code_verify(secret, other, at=AT)


@pytest.mark.parametrize(
    "code", ["", "12345", "1234567", "abcdef", "１２３４５６", "-12345", None, 123456, "9" * 9999]
)
def test_malformed_codes_are_simply_wrong(secret, code):
    assert dynamic_code.code_verify(secret, code, at=AT) is False


def test_another_secret_does_not_verify(secret):
    code = dynamic_code.code_now(dynamic_code.secret_new(), at=AT)
    if code not in (
        dynamic_code.code_now(secret, at=AT),
        dynamic_code.code_now(secret, at=AT - timedelta(seconds=60)),
    ):
        assert not dynamic_code.code_verify(secret, code, at=AT)


def test_seconds_left_counts_down_to_the_next_step():
    assert dynamic_code.seconds_left(at=AT) == 30
