"""Member numbers: random, 10 digits, the last a Luhn check digit, so they cannot be walked
and a mistyped number is caught before any lookup. Numbers issued before (M00000001) keep
working."""

from __future__ import annotations

import re
import secrets

LENGTH = 10
NEW_FORMAT = re.compile(r"^[1-9][0-9]{9}$")
# The numbers issued before random numbers: M + 8 digits (the demo member is M00000001).
LEGACY_FORMAT = re.compile(r"^M[0-9]{8}$")


class InvalidMemberNumber(ValueError):
    code = "invalid_member_no"


def luhn_check_digit(body: str) -> str:
    """The digit that makes `body` + digit pass the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:  # doubled: these sit at odd positions once the check digit is on
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return (
        bool(number)
        and number.isascii()
        and number.isdigit()
        and luhn_check_digit(number[:-1]) == number[-1]
    )


def member_no_new() -> str:
    """A random 10-digit member number (first digit 1-9) ending in its Luhn check digit."""
    body = str(secrets.randbelow(9 * 10 ** (LENGTH - 2)) + 10 ** (LENGTH - 2))
    return body + luhn_check_digit(body)


def member_no_check(raw: str) -> str:
    """`raw` if it can be a member number (new with a good check digit, or legacy M-format).

    Raises InvalidMemberNumber otherwise: callers answer 400 without looking anything up.
    """
    if not isinstance(raw, str):
        raise InvalidMemberNumber("Not a member number.")
    if LEGACY_FORMAT.match(raw):
        return raw
    if NEW_FORMAT.match(raw):
        if luhn_valid(raw):
            return raw
        raise InvalidMemberNumber("The member number's check digit is wrong: check for a typo.")
    raise InvalidMemberNumber("A member number has 10 digits (or is an old M + 8 digits one).")
