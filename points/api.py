"""The POS API: tills report purchases and refunds, enrol customers, read balances.

Every answer that is not a success is `{"error": {"code", "message", "field"}}` with a 4xx
status. Every POST needs an `Idempotency-Key`: the same key with the same body gets the same
answer and writes nothing twice; the same key with another body gets 409.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from merchants.models import Merchant, Store, Terminal, hash_api_key
from points.card_code import card_code_split, card_code_valid_for
from points.member_numbers import InvalidMemberNumber, member_no_check
from points.models import Account, Member, PointLot, Purchase, SmsCode
from points.rules import EarnResult
from points.selectors import spendable_balance
from points.serializers import (
    CodeSentSerializer,
    EnrolResultSerializer,
    EnrolSerializer,
    ErrorSerializer,
    PurchaseResultSerializer,
    PurchaseSerializer,
    RefundSerializer,
    purchase_body_fast,
)
from points.services.accounts import member_account_code
from points.services.errors import EarnError
from points.services.idempotency import (
    AnswerSlot,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    answer_record_once,
    answer_stored,
    idempotency_key_check,
    request_hash_of,
)
from points.services.identity import (
    CodeRateLimited,
    IdentityError,
    sms_code_send,
    sms_code_verify,
)
from points.services.members import InvalidMobile, mask_mobile, member_enrol, normalise_mobile
from points.services.purchases import (
    PurchaseNotFound,
    ReceiptAlreadyRecorded,
    RefundExceedsPurchase,
    RefundLineRequest,
    UnknownStore,
    purchase_record,
    purchase_record_at_once,
    purchase_refund,
)
from points.services.retry import DatabaseBusy
from points.statements import AttachedWrite, compact, fetch_joined, to_json

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
IDEMPOTENCY_HEADER = "Idempotency-Key"


class ApiError(exceptions.APIException):
    def __init__(self, code: str, message: str, status_code: int = 400, field: str | None = None):
        self.status_code = status_code
        self.error_code = code
        self.field = field
        super().__init__(detail=message, code=code)


def error_body(code: str, message: str, field: str | None = None) -> dict:
    return {"error": {"code": code, "message": message, "field": field}}


def _first_validation_error(detail, path: str = "") -> tuple[str | None, str]:
    """The first field path and message of a (nested) DRF validation error."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                name = path
            elif isinstance(key, int):  # a list's item, e.g. lines[0]
                name = f"{path}[{key}]"
            else:
                name = f"{path}.{key}" if path else str(key)
            return _first_validation_error(value, name)
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list) and value:
                nested = f"{path}[{index}]" if isinstance(value, dict) else path
                return _first_validation_error(value, nested)
            if not isinstance(value, dict | list):
                return path or None, str(value)
    return path or None, str(detail)


# The HTTP status of each domain error (the services know nothing of HTTP); the most
# specific class listed wins, a domain error not listed is a 400.
ERROR_STATUS: dict[type[Exception], int] = {
    EarnError: 400,
    ReceiptAlreadyRecorded: 409,
    PurchaseNotFound: 404,
    RefundExceedsPurchase: 422,
    IdempotencyKeyInvalid: 400,
    IdempotencyKeyReused: 409,
}
# Errors about a header rather than a field of the body.
_ERROR_FIELD = {IdempotencyKeyInvalid: IDEMPOTENCY_HEADER, IdempotencyKeyReused: IDEMPOTENCY_HEADER}


def _domain_error_response(exc: Exception) -> Response:
    status = next(ERROR_STATUS[cls] for cls in type(exc).__mro__ if cls in ERROR_STATUS)
    field = getattr(exc, "field", None) or _ERROR_FIELD.get(type(exc))
    return Response(error_body(exc.code, str(exc), field), status=status)


def api_exception_handler(exc, context):
    """Turn every exception DRF sees into our error shape (never a 5xx for bad input)."""
    if isinstance(exc, ApiError):
        return Response(
            error_body(exc.error_code, str(exc.detail), exc.field), status=exc.status_code
        )
    if isinstance(exc, tuple(ERROR_STATUS)):
        return _domain_error_response(exc)
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_validation_error(exc.detail)
        return Response(error_body("invalid", message, field), status=400)
    if isinstance(exc, exceptions.ParseError):
        return Response(
            error_body("malformed_json", "The body is not valid UTF-8 JSON."), status=400
        )
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = Response(
            error_body(
                "unauthorized", "A valid terminal key is required: Authorization: Bearer <key>."
            ),
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="jifen"'
        return response
    if isinstance(exc, exceptions.Throttled):
        response = Response(
            error_body(
                "throttled",
                f"Too many requests from this terminal; retry in {exc.wait or 1:.0f} s.",
            ),
            status=429,
        )
        return response
    if isinstance(exc, DatabaseBusy):
        return Response(error_body(exc.code, str(exc)), status=503, headers={"Retry-After": "1"})
    if isinstance(exc, OperationalError | InterfaceError):
        # The database went away mid-request (restart, failover, a killed connection): nothing
        # was committed, so the till may retry with the same Idempotency-Key.
        logger.warning("API request failed on the database: %s", exc)
        return Response(
            error_body(
                "database_unavailable",
                "The database is unavailable; nothing was recorded. Retry with the same "
                "Idempotency-Key.",
            ),
            status=503,
            headers={"Retry-After": "1"},
        )
    response = drf_exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        response.data = error_body(code, str(getattr(exc, "detail", exc)))
    return response


def _active_terminal(key_hash: str) -> Terminal | None:
    """The terminal with this key hash, with its store and merchant: on every POS request,
    so one prepared statement. Whether all three are active is the caller's check."""
    found = fetch_joined(
        ((Terminal, "terminal"), (Store, "store"), (Merchant, "merchant")),
        f"FROM {Terminal._meta.db_table} terminal "
        f"JOIN {Store._meta.db_table} store ON store.id = terminal.store_id "
        f"JOIN {Merchant._meta.db_table} merchant ON merchant.id = store.merchant_id "
        "WHERE terminal.key_hash = %s::varchar",
        [key_hash],
    )
    if found is None:
        return None
    terminal, store, merchant = found
    store.merchant = merchant
    terminal.store = store
    return terminal


class TerminalKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword or len(parts) != 2:
            raise exceptions.NotAuthenticated()
        try:
            raw_key = parts[1].decode("ascii")
        except UnicodeDecodeError as error:
            raise exceptions.AuthenticationFailed() from error
        key_hash = hash_api_key(raw_key)
        terminal = _active_terminal(key_hash)
        # Looked up by hash; compared again in constant time, so no byte-by-byte timing leaks.
        if terminal is None or not hmac.compare_digest(terminal.key_hash, key_hash):
            raise exceptions.AuthenticationFailed()
        if not (terminal.active and terminal.store.active and terminal.store.merchant.active):
            raise ApiError(
                "terminal_inactive",
                "This terminal, its store or its merchant is not active; nothing was recorded.",
                status_code=403,
            )
        return (None, terminal)

    def authenticate_header(self, request):
        return 'Bearer realm="jifen"'


class TerminalRateThrottle(SimpleRateThrottle):
    """`POS_THROTTLE_RATE` requests per terminal.

    A counter per terminal and fixed window of the clock, through the cache's public API
    (`incr`, then `add` when the window's first request finds no counter): atomic across
    workers on Redis, where DRF's read-modify-write of a list of timestamps may lose a
    concurrent request's count. Like any fixed window it lets up to twice the rate through
    across a window's end. Each window has its own key, which expires with it, so a counter
    can never outlive its window; its key is not DRF's, so workers of an earlier release and
    of this one do not trip each other up during a rolling deploy.
    """

    scope = "terminal"

    def get_cache_key(self, request, view):
        terminal = getattr(request, "auth", None)
        return self.cache_format % {"scope": self.scope, "ident": getattr(terminal, "pk", "anon")}

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        try:
            backend = caches[DEFAULT_CACHE_ALIAS]  # `self.cache` is a proxy to it
            count, self.retry_after = count_in_window(
                backend, self.get_cache_key(request, view), self.duration
            )
        except Exception as error:  # noqa: BLE001 - the cache (Redis) is down: fail open
            logger.warning("Throttle cache unavailable, request allowed: %s", error)
            return True
        return count <= self.num_requests

    def wait(self):
        if hasattr(self, "retry_after"):
            return self.retry_after
        return super().wait()


def count_in_window(
    cache: BaseCache, ident: str, seconds: int, now: float | None = None
) -> tuple[int, int]:
    """Count one request of `ident` in the current `seconds`-long window of the clock; the
    count so far (this one included) and the seconds until the window ends."""
    now = time.time() if now is None else now
    window = int(now // seconds)
    key = f"window_{ident}_{window}"
    retry_after = max(1, math.ceil((window + 1) * seconds - now))
    if isinstance(cache, RedisCache):
        # One round trip: INCR (atomic; it opens the counter at 1) and the key's expiry,
        # pipelined. Django's `incr` asks EXISTS first, a second round trip per request.
        name = cache.make_and_validate_key(key)
        pipeline = cache._cache.get_client(name, write=True).pipeline(transaction=False)
        count, _expiry_set = pipeline.incr(name).expire(name, seconds + 1).execute()
        return int(count), retry_after
    try:
        count = cache.incr(key)
    except ValueError:  # the window's first request: open its counter
        if cache.add(key, 1, timeout=seconds + 1):
            count = 1
        else:  # a concurrent first request opened it meanwhile
            count = cache.incr(key)
    return count, retry_after


class PosView(APIView):
    authentication_classes = [TerminalKeyAuthentication]
    throttle_classes = [TerminalRateThrottle]

    def initial(self, request, *args, **kwargs):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            raise ApiError("body_too_large", "The body must be at most 1 MB.")
        request._request.body  # noqa: B018 - read once, so the idempotency hash can see it
        super().initial(request, *args, **kwargs)

    @property
    def terminal(self) -> Terminal:
        return self.request.auth

    def get_exception_handler(self):
        return api_exception_handler

    def parsed(self, serializer_class):
        if not isinstance(self.request.data, dict):
            raise ApiError("malformed_json", "The body must be a JSON object.")
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def idempotency_key(self) -> str:
        """The request's Idempotency-Key, checked (`idempotency_key_check`)."""
        return idempotency_key_check(self.request.headers.get(IDEMPOTENCY_HEADER, ""))

    def idempotent(self, handler, at_once=None):
        """Run `handler` once per (terminal, Idempotency-Key) and remember its answer
        (`answer_record_once`, which tries `at_once` first): a retry gets the same answer,
        another body 409."""
        answer = answer_record_once(
            terminal=self.terminal,
            key=self.request.headers.get(IDEMPOTENCY_HEADER, ""),
            request_body=self.request.body,
            work=handler,
            at_once=at_once,
            # The receipt may have been recorded by an earlier request with this key, or
            # one that raced it: then answer as it did. Otherwise the refusal stands.
            replay_on=(EarnError, ApiError),
        )
        response = Response(answer.body, status=answer.status_code)
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


def _member_or_none(member_no: str) -> Member | None:
    """The member with its user (the notification reads the email): one prepared statement."""
    User = get_user_model()
    found = fetch_joined(
        ((Member, "member"), (User, "login")),
        f"FROM {Member._meta.db_table} member "
        f"JOIN {User._meta.db_table} login ON login.id = member.user_id "
        "WHERE member.member_no = %s::varchar",
        [member_no],
    )
    if found is None:
        return None
    member, user = found
    member.user = user
    return member


def _member_or_404(member_no: str) -> Member:
    member = _member_or_none(member_no)
    if member is None:
        raise ApiError(
            "unknown_member", "No member with this member number.", 404, field="member_no"
        )
    return member


def _member_by_card_code(card_code: str) -> Member:
    """The member whose card shows `card_code` now (or a step ago), else 403: an unknown
    number and a wrong code get the same answer, so card codes cannot be used to probe."""
    parts = card_code_split(card_code)
    member = _member_or_none(parts[0]) if parts else None
    if member is None or not card_code_valid_for(member, card_code):
        raise ApiError(
            "invalid_card_code",
            "The card code is wrong or expired: ask the member to show their card again.",
            403,
            field="card_code",
        )
    return member


def _balances(member: Member) -> dict[str, Account]:
    return {a.kind: a for a in Account.objects.filter(member=member)}


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per request; a retry with the same key and body is answered again.",
)


class PurchaseView(PosView):
    @extend_schema(
        request=PurchaseSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: PurchaseResultSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
    )
    def post(self, request):
        data = purchase_body_fast(request.data) or self.parsed(PurchaseSerializer)
        return self.idempotent(
            lambda: self._record(data), at_once=lambda slot: self._record_at_once(data, slot)
        )

    def _purchase_args(self, data) -> dict:
        """What `purchase_record` is called with; the member and store looked up once per
        request (the one-statement attempt and the general path share them)."""
        if getattr(self, "_args", None) is None:
            if data.get("card_code"):
                member = _member_by_card_code(data["card_code"])
            else:
                member = _member_or_404(data["member_no"])
            merchant = self.terminal.store.merchant
            store = self.terminal.store
            if data.get("store"):
                store = Store.objects.filter(merchant=merchant, code=data["store"]).first()
                if store is None:
                    raise UnknownStore("No store with this code at this merchant.")
            self._args = {
                "merchant": merchant,
                "member": member,
                "receipt_no": data["receipt_no"],
                "occurred_at": data["occurred_at"],
                "store": store,
                "terminal": self.terminal,
                "lines": data["lines"],  # `LineRequest`s, checked by `purchase_check`
                "actor": f"terminal:{self.terminal.pk}",
            }
        return self._args

    def _record_at_once(self, data, slot: AnswerSlot):
        """The common purchase and its stored answer in one statement (no transaction), or
        None with nothing written. The answer is built by the statement from what it wrote,
        the same body `_record` builds (no bonus: a first purchase never goes this way)."""
        args = self._purchase_args(data)
        codes = [member_account_code(args["member"].pk, kind) for kind in ANSWER_BALANCE_KINDS]

        def answer(purchase: Purchase, earned: EarnResult) -> list[AttachedWrite]:
            return [
                slot.attached(
                    status_code=201,
                    body_sql=_ANSWER_BODY_SQL,
                    body_params=[
                        purchase.points,
                        purchase.green_points,
                        codes[0],
                        codes[0],
                        codes[1],
                        codes[1],
                        to_json(earned.breakdown()),
                    ],
                )
            ]

        purchase = purchase_record_at_once(**args, attached=answer)
        if purchase is None:
            return None
        body = purchase.transaction.attached["api_answer"]
        return 201, json.loads(body) if isinstance(body, str) else body  # jsonb comes as text

    def _record(self, data):
        args = self._purchase_args(data)
        member = args["member"]
        # Only after `_record_at_once` wrote nothing: its statement would not now either.
        purchase = purchase_record(**args, try_at_once=False)
        if purchase.replayed:
            raise ApiError(
                "duplicate_receipt",
                "This receipt has already been recorded.",
                409,
                field="receipt_no",
            )
        # The one-statement path returns the balances it wrote; otherwise they are read.
        balances = getattr(purchase, "balances", {})
        if len(balances) < len(Account.MEMBER_KINDS):
            balances = {kind: account.balance for kind, account in _balances(member).items()}
        bonus = getattr(purchase, "bonus", None)
        body = {
            "transaction_id": purchase.transaction_id,
            "purchase_id": purchase.pk,
            "points": purchase.points,
            "green_points": purchase.green_points,
            "bonus_points": bonus.entries.get(account__member=member).points if bonus else 0,
            "balance": balances[Account.Kind.STANDARD],
            "green_balance": balances[Account.Kind.GREEN],
            "breakdown": purchase.transaction.breakdown if purchase.transaction else {},
        }
        return 201, body


ANSWER_BALANCE_KINDS = (Account.Kind.STANDARD, Account.Kind.GREEN)
# `PurchaseView._record`'s body, built inside the purchase's statement from its CTEs: `txn`,
# `purchase`, `balances` (the credited accounts after posting); an account not credited by
# this purchase keeps the balance the statement's snapshot reads.
_ANSWER_BODY_SQL = compact("""
    jsonb_build_object(
        'transaction_id', txn.id,
        'purchase_id', (SELECT id FROM purchase),
        'points', %s::bigint,
        'green_points', %s::bigint,
        'bonus_points', 0,
        'balance', coalesce((SELECT balance FROM balances WHERE code = %s::varchar),
                            (SELECT balance FROM points_account WHERE code = %s::varchar)),
        'green_balance', coalesce((SELECT balance FROM balances WHERE code = %s::varchar),
                                  (SELECT balance FROM points_account WHERE code = %s::varchar)),
        'breakdown', %s::jsonb)
""")


class RefundView(PosView):
    @extend_schema(
        request=RefundSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: OpenApiTypes.OBJECT,
            400: ErrorSerializer,
            404: ErrorSerializer,
            422: ErrorSerializer,
        },
    )
    def post(self, request):
        data = self.parsed(RefundSerializer)
        return self.idempotent(lambda: self._refund(data))

    def _refund(self, data):
        refund = purchase_refund(
            merchant=self.terminal.store.merchant,
            receipt_no=data["receipt_no"],
            refund_no=data["refund_no"],
            lines=[
                RefundLineRequest(line_no=line["line_no"], quantity=line["quantity"])
                for line in data["lines"]
            ],
            actor=f"terminal:{self.terminal.pk}",
        )
        accounts = _balances(refund.purchase.member)
        return (200 if refund.replayed else 201), {
            "refund_id": refund.pk,
            "transaction_id": refund.transaction_id,
            "points": refund.points,
            "green_points": refund.green_points,
            "points_due": refund.points_due,
            "policy": refund.policy,
            "lines": refund.lines,
            "balance": accounts[Account.Kind.STANDARD].balance,
            "green_balance": accounts[Account.Kind.GREEN].balance,
        }


class MemberEnrolView(PosView):
    """Enrol a customer by mobile, proven by a code texted to that number.

    Without `sms_code`: a code is sent and the answer is `202 {"status": "code_sent"}` for
    every well-formed number, card or no card. With it: 201 (new member) or 200 (the number
    already had a card), each `{member_no, mobile_masked, created}`.
    """

    @extend_schema(
        request=EnrolSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            200: EnrolResultSerializer,
            201: EnrolResultSerializer,
            202: CodeSentSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            409: ErrorSerializer,
            429: ErrorSerializer,
        },
        description=(
            "Step 1 `{mobile, consent}` texts a code to the number: 202 code_sent, whatever "
            "the number. Step 2 `{mobile, consent, sms_code}`: 201 created / 200 existing. "
            "Errors: invalid_mobile, sms_code_invalid, sms_code_expired, "
            "sms_code_attempts_exceeded (400); sms_rate_limited (429)."
        ),
    )
    def post(self, request):
        data = self.parsed(EnrolSerializer)
        try:
            mobile = normalise_mobile(data["mobile"])
        except InvalidMobile as error:
            raise ApiError(InvalidMobile.code, str(error), field="mobile") from error
        client = f"terminal:{self.terminal.pk}"
        key = self.idempotency_key()
        if "sms_code" not in data:
            return self.idempotent(lambda: self._send_code(mobile, client))
        try:
            # Its own transaction: a wrong try is counted even though the answer is an error.
            sms_code_verify(
                mobile=mobile,
                purpose=SmsCode.Purpose.TILL_ENROL,
                code=data["sms_code"],
                client=client,
                actor=client,
            )
        except IdentityError as error:
            # A retry of a request that already succeeded finds its code used: answer again.
            stored = answer_stored(
                terminal=self.terminal, key=key, request_hash=request_hash_of(request.body)
            )
            if stored is not None:
                response = Response(stored.body, status=stored.status_code)
                response["Idempotent-Replayed"] = "true"
                return response
            raise ApiError(error.code, str(error), error.status, field="sms_code") from error
        return self.idempotent(lambda: self._enrol(mobile, client))

    def _send_code(self, mobile, client):
        try:
            sms_code_send(
                mobile=mobile, purpose=SmsCode.Purpose.TILL_ENROL, client=client, actor=client
            )
        except CodeRateLimited as error:
            raise ApiError(error.code, str(error), error.status, field="mobile") from error
        return 202, {"status": "code_sent"}

    def _enrol(self, mobile, client):
        member, created = member_enrol(mobile=mobile, actor=client, client=client)
        return (201 if created else 200), {
            "member_no": member.member_no,
            "mobile_masked": mask_mobile(member.mobile),
            "created": created,
        }


CARD_CODE_PARAMETER = OpenApiParameter(
    "card_code",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    required=True,
    description="The code the member's card shows now (member number + 6-digit dynamic code).",
)


class MemberBalanceView(PosView):
    """A balance is read only while the member shows their card: `?card_code=` is required."""

    @extend_schema(
        parameters=[CARD_CODE_PARAMETER],
        responses={
            200: OpenApiTypes.OBJECT,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
        },
    )
    def get(self, request, member_no: str):
        try:
            member_no_check(member_no)
        except InvalidMemberNumber as error:
            raise ApiError(error.code, str(error), field="member_no") from error
        card_code = request.query_params.get("card_code", "")
        if not card_code:
            raise ApiError(
                "card_code_required",
                "Reading a balance needs the card code the member shows: ?card_code=.",
                403,
                field="card_code",
            )
        member = _member_by_card_code(card_code)
        if member.member_no != member_no:
            raise ApiError(
                "invalid_card_code",
                "The card code is wrong or expired: ask the member to show their card again.",
                403,
                field="card_code",
            )
        accounts = _balances(member)
        now = timezone.now()
        standard = accounts[Account.Kind.STANDARD]
        expiring = (
            PointLot.objects.filter(
                account=standard,
                remaining__gt=0,
                expires_at__gt=now,
                expires_at__lte=now + timedelta(days=90),
            )
            .order_by("expires_at")
            .values_list("expires_at", "remaining")[:100]
        )
        return Response(
            {
                "member_no": member.member_no,
                "mobile": mask_mobile(member.mobile),
                "balance": standard.balance,
                "spendable": spendable_balance(standard, now=now),
                "green_balance": accounts[Account.Kind.GREEN].balance,
                "expiring_within_90_days": [
                    {"expires_at": timezone.localtime(when).isoformat(), "points": points}
                    for when, points in expiring
                ],
                "points_never_expire": settings.POINTS_EXPIRY_MONTHS is None,
            }
        )


def api_not_found(request, exception=None):
    return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)


class TerminalKeyScheme(OpenApiAuthenticationExtension):
    """Documents the terminal key in the OpenAPI schema as a Bearer token."""

    target_class = "points.api.TerminalKeyAuthentication"
    name = "TerminalKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The till's API key: Authorization: Bearer <key>.",
        }
