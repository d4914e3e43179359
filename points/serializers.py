"""The POS API's JSON bodies: JSON types are checked here (strict: wrong types are errors,
not coerced); what makes a purchase valid is `points.services.purchase_validation`, shared
with the CSV import and `purchase_record`."""

from datetime import datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from points.member_numbers import InvalidMemberNumber, member_no_check
from points.services.errors import InvalidPurchase
from points.services.purchase_validation import (
    MAX_AMOUNT_FEN,
    MAX_LINE_NO,
    MAX_LINES,
    MAX_QUANTITY,
    RECEIPT_NO_PATTERN,
    LineRequest,
    purchase_check,
    receipt_no_check,
)


class StrictIntegerField(serializers.IntegerField):
    """Only a JSON integer: no strings, no 12.0, no booleans."""

    default_error_messages = {"invalid": "Must be a whole number (a JSON integer)."}

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """Only a JSON string: a number is not silently turned into one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.DATETIME)
class OffsetDateTimeField(serializers.Field):
    """ISO 8601 with an explicit UTC offset, e.g. 2026-11-26T10:30:00+08:00."""

    default_error_messages = {
        "invalid": (
            "Must be an ISO 8601 date-time with a UTC offset, e.g. 2026-11-26T10:30:00+08:00."
        ),
    }

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) > 40:
            self.fail("invalid")
        try:
            value = datetime.fromisoformat(data)
        except ValueError:
            self.fail("invalid")
        if value.tzinfo is None:
            self.fail("invalid")
        return value  # its range is `purchase_check`'s (`PurchaseSerializer.validate`)

    def to_representation(self, value):
        return value.isoformat()


class PurchaseLineSerializer(serializers.Serializer):
    # Ranges are checked by `purchase_check` (in `PurchaseSerializer.validate`); they are
    # named here for the OpenAPI schema only.
    line_no = StrictIntegerField(help_text=f"1 to {MAX_LINE_NO}, unique in the purchase.")
    sku = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    category = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    quantity = StrictIntegerField(help_text=f"1 to {MAX_QUANTITY}.")
    amount_fen = StrictIntegerField(
        help_text=f"1 to {MAX_AMOUNT_FEN} fen; the purchase's total at most as much too."
    )


class PurchaseSerializer(serializers.Serializer):
    # Exactly one: the member number, or the card code the member shows (number + dynamic code).
    member_no = serializers.CharField(required=False, max_length=32)
    card_code = StrictCharField(required=False, max_length=32)
    receipt_no = serializers.CharField(
        trim_whitespace=False, help_text=f"Matches {RECEIPT_NO_PATTERN}."
    )
    occurred_at = OffsetDateTimeField()
    store = serializers.SlugField(required=False, max_length=60)
    lines = PurchaseLineSerializer(
        many=True, allow_empty=False, help_text=f"1 to {MAX_LINES} lines."
    )

    def validate_member_no(self, value):
        try:
            return member_no_check(value)
        except InvalidMemberNumber as error:
            raise serializers.ValidationError(str(error), code=error.code) from error

    def validate(self, attrs):
        """The shared rules (`purchase_check`): an `InvalidPurchase` goes to the API's error
        handler as it is, with its field."""
        if bool(attrs.get("member_no")) == bool(attrs.get("card_code")):
            raise serializers.ValidationError(
                {"member_no": "Give exactly one of member_no or card_code."}
            )
        attrs["lines"] = [
            LineRequest(
                line_no=line["line_no"],
                quantity=line["quantity"],
                amount_fen=line["amount_fen"],
                sku=line.get("sku") or None,
                category=line.get("category") or None,
            )
            for line in attrs["lines"]
        ]
        purchase_check(
            receipt_no=attrs["receipt_no"], occurred_at=attrs["occurred_at"], lines=attrs["lines"]
        )
        return attrs


_PURCHASE_KEYS = frozenset(
    {"member_no", "card_code", "receipt_no", "occurred_at", "store", "lines"}
)
_LINE_KEYS = frozenset({"line_no", "sku", "category", "quantity", "amount_fen"})
_BIG = 10**18  # beyond every range purchase_check allows; bigger ones take the serializer


def _plain(value: object) -> bool:
    """A string the serializer's CharField keeps as it is: ASCII, printable, so no NUL, no
    surrogate, no whitespace a trimming field would strip at either end."""
    return type(value) is str and value.isascii() and value.isprintable() and value == value.strip()


def purchase_body_fast(data: object) -> dict | None:
    """`PurchaseSerializer(data=data).validated_data`, without the serializer, for a plainly
    well-formed body; None for anything else (the serializer then answers, errors included).

    The POS sends the same well-formed body a thousand times a day, and building a nested
    serializer with its fields and validators for each one is the request's largest piece of
    Python outside the ledger (bench/README.md, "earn_http_4"). Whatever this accepts, the
    serializer accepts with the same result; tests/points/test_purchase_body_fast.py
    generates bodies to hold the two equal. The purchase rules (`purchase_check`, which may
    raise `InvalidPurchase`) run exactly as in `PurchaseSerializer.validate`.
    """
    if type(data) is not dict or not data.keys() <= _PURCHASE_KEYS or "store" in data:
        return None
    # Present (even as null, which the serializer refuses) or absent: as the serializer sees it.
    member_no, card_code = data.get("member_no"), data.get("card_code")
    if ("member_no" in data) == ("card_code" in data):
        return None
    who = member_no if card_code is None else card_code
    if not _plain(who) or not 0 < len(who) <= 32:
        return None
    receipt_no, occurred_at, lines = (
        data.get("receipt_no"),
        data.get("occurred_at"),
        data.get("lines"),
    )
    if not _plain(receipt_no) or not receipt_no:
        return None
    if type(occurred_at) is not str or len(occurred_at) > 40 or not occurred_at.isascii():
        return None
    try:
        when = datetime.fromisoformat(occurred_at)
    except ValueError:
        return None
    if when.tzinfo is None or type(lines) is not list or not lines:
        return None
    requests = []
    for line in lines:
        if type(line) is not dict or not line.keys() <= _LINE_KEYS:
            return None
        numbers = line.get("line_no"), line.get("quantity"), line.get("amount_fen")
        if any(type(n) is not int or not -_BIG < n < _BIG for n in numbers):
            return None
        sku, category = line.get("sku"), line.get("category")
        if any(name in line and not _plain(line[name]) for name in ("sku", "category")):
            return None
        requests.append(
            LineRequest(
                line_no=numbers[0],
                quantity=numbers[1],
                amount_fen=numbers[2],
                sku=sku or None,
                category=category or None,
            )
        )
    if member_no is not None:
        try:
            member_no = member_no_check(member_no)
        except InvalidMemberNumber:
            return None
    purchase_check(receipt_no=receipt_no, occurred_at=when, lines=requests)
    body = {"receipt_no": receipt_no, "occurred_at": when, "lines": requests}
    return body | ({"member_no": member_no} if card_code is None else {"card_code": card_code})


class ReceiptNoField(serializers.CharField):
    """A receipt or refund number (`receipt_no_check`)."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        try:
            return receipt_no_check(super().to_internal_value(data))
        except InvalidPurchase as error:
            raise serializers.ValidationError(str(error), code=error.code) from None


class RefundLineSerializer(serializers.Serializer):
    line_no = StrictIntegerField(min_value=1, max_value=MAX_LINE_NO)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)


class RefundSerializer(serializers.Serializer):
    receipt_no = ReceiptNoField()
    refund_no = ReceiptNoField()
    lines = RefundLineSerializer(many=True, allow_empty=False, max_length=MAX_LINES)


class EnrolSerializer(serializers.Serializer):
    mobile = serializers.CharField(max_length=20)
    consent = serializers.BooleanField()
    # Absent: a code is texted to the number (202). Present: the code the customer read out.
    sms_code = StrictCharField(required=False, max_length=32)

    def validate_consent(self, value):
        if value is not True:
            raise serializers.ValidationError("The customer must consent to joining.")
        return value


class PurchaseResultSerializer(serializers.Serializer):
    transaction_id = serializers.IntegerField(allow_null=True)
    purchase_id = serializers.IntegerField()
    points = serializers.IntegerField()
    green_points = serializers.IntegerField()
    bonus_points = serializers.IntegerField()
    balance = serializers.IntegerField()
    green_balance = serializers.IntegerField()
    breakdown = serializers.DictField()


class CodeSentSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["code_sent"])


class EnrolResultSerializer(serializers.Serializer):
    member_no = serializers.CharField()
    mobile_masked = serializers.CharField()
    created = serializers.BooleanField()


class ErrorSerializer(serializers.Serializer):
    error = serializers.DictField()
