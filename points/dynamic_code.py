"""Dynamic codes that prove presence: RFC 6238 TOTP (pyotp), 60-second steps.

One small API, shared by the member card (付款码-style code shown at the till) and, later,
activity check-in codes:

    secret = dynamic_code.secret_new()            # store it with the owner
    dynamic_code.code_now(secret)                 # "042917": what the owner shows now
    dynamic_code.code_verify(secret, "042917")    # True for this step or the previous one

The previous step is accepted so a code read just before it rolled over still works; a code
two steps old is refused.
"""

from __future__ import annotations

from datetime import datetime

import pyotp
from django.utils import timezone

STEP_SECONDS = 60
DIGITS = 6
PREVIOUS_STEPS_ACCEPTED = 1


def secret_new() -> str:
    """A fresh random base32 secret (160 bits), one per owner."""
    return pyotp.random_base32(length=32)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def code_now(secret: str, *, at: datetime | None = None) -> str:
    """The code of the step that contains `at` (default: now)."""
    return _totp(secret).at(at or timezone.now())


def seconds_left(*, at: datetime | None = None) -> int:
    """Seconds until the current code changes."""
    now = at or timezone.now()
    return STEP_SECONDS - int(now.timestamp()) % STEP_SECONDS


def code_verify(secret: str, code: str, *, at: datetime | None = None) -> bool:
    """Whether `code` is the code of the current step or of the previous one.

    Anything that is not exactly DIGITS ASCII digits is simply wrong (never an exception).
    """
    if not isinstance(code, str) or len(code) != DIGITS or not code.isascii():
        return False
    if not code.isdigit() or not secret:
        return False
    now = at or timezone.now()
    # valid_window=1 would also accept the *next* step; only the current and previous are.
    totp = _totp(secret)
    for steps_back in range(PREVIOUS_STEPS_ACCEPTED + 1):
        moment = now.timestamp() - steps_back * STEP_SECONDS
        if pyotp.utils.strings_equal(code, totp.at(moment)):
            return True
    return False
