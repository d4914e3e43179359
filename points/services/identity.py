"""Identity by mobile number: one-time SMS codes, sign-up, card claim, SMS login, till
enrolment, and their audit trail.

A member is a mobile number proven by an SMS code. Nothing said before the code is verified
depends on whether the number has a card: `sms_code_send` does the same work, writes the
same rows and sends the same text for every well-formed number.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from points import sms
from points.models import IdentityEvent, LedgerTransaction, Member, SignupBonusMobile, SmsCode
from points.services.accounts import member_create
from points.services.bonuses import SIGNUP, bonus_grant
from points.services.members import mask_mobile, normalise_mobile

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=5)
MAX_FAILED_ATTEMPTS = 5
RESEND_INTERVAL = timedelta(minutes=1)
PER_NUMBER_PER_DAY = 10
PER_CLIENT_PER_HOUR = 20

Purpose = SmsCode.Purpose

# What the text says the code is for (SMS are always Simplified Chinese).
_PURPOSE_TEXT = {
    Purpose.SIGNUP: "注册会员",
    Purpose.CLAIM: "认领会员卡",
    Purpose.LOGIN: "登录",
    Purpose.TILL_ENROL: "在门店开通会员",
}


class IdentityError(Exception):
    """A refusal the person asking can act on; `code` is the API's error code."""

    code = "identity_error"
    status = 400


class CodeRateLimited(IdentityError):
    code = "sms_rate_limited"
    status = 429


class CodeWrong(IdentityError):
    code = "sms_code_invalid"


class CodeExpired(IdentityError):
    code = "sms_code_expired"


class CodeAttemptsExceeded(IdentityError):
    code = "sms_code_attempts_exceeded"


def mobile_digest(mobile: str) -> str:
    """The keyed hash (HMAC-SHA256, MOBILE_DIGEST_KEY) under which a number is remembered."""
    return hmac.new(
        settings.MOBILE_DIGEST_KEY.encode(), mobile.encode(), hashlib.sha256
    ).hexdigest()


def _code_hash(*, mobile: str, purpose: str, code: str) -> str:
    # Bound to the number and the purpose: a sign-up code does not log anybody in.
    message = f"{purpose}:{mobile}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _lock(name: str) -> None:
    """A transaction-scoped advisory lock: two requests for one number (or one client) queue,
    so the limits hold under concurrency."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"identity:{name}"])


def identity_event_record(
    *,
    kind: str,
    mobile: str = "",
    purpose: str = "",
    member: Member | None = None,
    actor: str = "anonymous",
    client: str = "",
) -> IdentityEvent:
    """One audit row; the number only masked."""
    return IdentityEvent.objects.create(
        kind=kind,
        purpose=purpose,
        mobile_masked=mask_mobile(mobile),
        member=member,
        actor=actor[:80],
        client=client[:80],
    )


def sms_code_send(*, mobile: str, purpose: str, client: str, actor: str = "anonymous") -> None:
    """Send a fresh one-time code for `purpose` to `mobile`, within every limit.

    Limits: one code a minute and PER_NUMBER_PER_DAY a day per number, PER_CLIENT_PER_HOUR an
    hour per client (an IP address or a till). A refusal raises CodeRateLimited and writes
    nothing. Joins the caller's transaction; the text is sent when it commits.
    """
    mobile = normalise_mobile(mobile)
    if purpose not in Purpose.values:
        raise ValueError(f"Unknown purpose {purpose!r}")
    now = timezone.now()
    with transaction.atomic():
        _lock(f"mobile:{mobile}")
        _lock(f"client:{client}")
        sent = SmsCode.objects.filter(mobile=mobile, created_at__gt=now - timedelta(days=1))
        if sent.filter(created_at__gt=now - RESEND_INTERVAL).exists():
            raise CodeRateLimited(
                _("A code was just sent. Please wait a minute before asking again.")
            )
        if sent.count() >= PER_NUMBER_PER_DAY:
            raise CodeRateLimited(
                _("This number has had too many codes today. Please try again tomorrow.")
            )
        recent_for_client = SmsCode.objects.filter(
            client=client, created_at__gt=now - timedelta(hours=1)
        ).count()
        if recent_for_client >= PER_CLIENT_PER_HOUR:
            raise CodeRateLimited(_("Too many codes asked for from here. Please try again later."))
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        SmsCode.objects.create(
            mobile=mobile,
            purpose=purpose,
            code_hash=_code_hash(mobile=mobile, purpose=purpose, code=code),
            client=client[:80],
            created_at=now,
            expires_at=now + CODE_TTL,
        )
        identity_event_record(
            kind=IdentityEvent.Kind.CODE_SENT,
            mobile=mobile,
            purpose=purpose,
            actor=actor,
            client=client,
        )
        text = (
            f"【积分通】验证码 {code}，用于{_PURPOSE_TEXT[purpose]}，5 分钟内有效。请勿告诉他人。"
        )
        # robust: a provider that fails is logged; the answer stays the same for everyone.
        transaction.on_commit(lambda: sms.sms_send(to=mobile, text=text), robust=True)


def sms_code_verify(
    *, mobile: str, purpose: str, code: str, client: str = "", actor: str = "anonymous"
) -> None:
    """Check `code` against the latest code sent to `mobile` for `purpose`, and use it up.

    Raises CodeExpired (none, used, or older than 5 minutes), CodeAttemptsExceeded (5 wrong
    tries: ask for a new one) or CodeWrong. A wrong try is counted and committed before the
    refusal is raised, so it must be the outer transaction.
    """
    mobile = normalise_mobile(mobile)
    now = timezone.now()
    refusal: IdentityError | None = None
    with transaction.atomic(durable=True):
        latest = (
            SmsCode.objects.select_for_update()
            .filter(mobile=mobile, purpose=purpose, used_at__isnull=True)
            .order_by("-created_at", "-id")
            .first()
        )
        if latest is None or latest.expires_at <= now:
            refusal = CodeExpired(_("The code has expired or was never sent. Ask for a new one."))
        elif latest.failed_attempts >= MAX_FAILED_ATTEMPTS:
            refusal = CodeAttemptsExceeded(_("Too many wrong codes. Ask for a new one."))
        else:
            given = code if isinstance(code, str) else ""
            well_formed = len(given) == CODE_DIGITS and given.isascii() and given.isdigit()
            expected = latest.code_hash
            offered = _code_hash(mobile=mobile, purpose=purpose, code=given) if well_formed else ""
            if well_formed and hmac.compare_digest(expected, offered):
                latest.used_at = now
                latest.save(update_fields=["used_at"])
                identity_event_record(
                    kind=IdentityEvent.Kind.CODE_VERIFIED,
                    mobile=mobile,
                    purpose=purpose,
                    actor=actor,
                    client=client,
                    member=Member.objects.filter(mobile=mobile).first(),
                )
            else:
                latest.failed_attempts += 1
                latest.save(update_fields=["failed_attempts"])
                identity_event_record(
                    kind=IdentityEvent.Kind.CODE_FAILED,
                    mobile=mobile,
                    purpose=purpose,
                    actor=actor,
                    client=client,
                )
                left = MAX_FAILED_ATTEMPTS - latest.failed_attempts
                if left <= 0:
                    refusal = CodeAttemptsExceeded(_("Too many wrong codes. Ask for a new one."))
                else:
                    refusal = CodeWrong(
                        _("The code is wrong. %(left)d tries left.") % {"left": left}
                    )
    if refusal is not None:
        raise refusal


def username_generate() -> str:
    """A username for a member who did not choose one: random, never the mobile."""
    User = get_user_model()
    while True:
        name = "jf" + secrets.token_hex(5)
        if not User.objects.filter(username=name).exists():
            return name


def signup_bonus_grant_once(*, member: Member, actor: str) -> LedgerTransaction | None:
    """The sign-up bonus, at most once per mobile number ever (the keyed hash of every number
    that received it is kept; deleting and re-creating an account does not pay twice).
    Joins the caller's transaction."""
    if member.mobile:
        try:
            with transaction.atomic():
                SignupBonusMobile.objects.create(mobile_digest=mobile_digest(member.mobile))
        except IntegrityError:
            return None
    return bonus_grant(member=member, kind=SIGNUP, actor=actor)


def member_join(
    *,
    mobile: str,
    username: str | None = None,
    password: str | None = None,
    email: str = "",
    actor: str = "anonymous",
    client: str = "",
    kind: str = IdentityEvent.Kind.SIGNUP,
) -> tuple[Member, bool, LedgerTransaction | None]:
    """A member for a proven mobile: the existing one, or a new login, card and accounts
    with the sign-up bonus (once per number ever). Returns (member, created, bonus).

    `password=None` leaves the login without a usable password (enrolled at a till: the
    customer claims it later on the website).
    """
    mobile = normalise_mobile(mobile)
    with transaction.atomic():
        _lock(f"mobile:{mobile}")
        existing = Member.objects.select_related("user").filter(mobile=mobile).first()
        if existing is not None:
            return existing, False, None
        user = get_user_model().objects.create_user(
            username=username or username_generate(), password=password, email=email
        )
        member = member_create(user=user, mobile=mobile)
        bonus = signup_bonus_grant_once(member=member, actor=actor)
        identity_event_record(kind=kind, mobile=mobile, member=member, actor=actor, client=client)
    return member, True, bonus


def member_claim(*, member: Member, username: str, password: str, client: str = "") -> Member:
    """A till-enrolled customer, their mobile proven, takes their card: username + password."""
    with transaction.atomic():
        user = type(member.user).objects.select_for_update().get(pk=member.user_id)
        user.username = username
        user.set_password(password)
        user.save(update_fields=["username", "password"])
        member.user = user
        identity_event_record(
            kind=IdentityEvent.Kind.CLAIM,
            mobile=member.mobile or "",
            member=member,
            actor=f"user:{user.pk}",
            client=client,
        )
    return member


def member_is_claimed(member: Member) -> bool:
    """Whether the card's login has a password (a till enrolment leaves it without one)."""
    return member.user.has_usable_password()
