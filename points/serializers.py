"""Validation of the POS API's JSON bodies. Strict: wrong types are errors, not coerced."""

from datetime import datetime, timedelta

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from points.member_numbers import InvalidMemberNumber, member_no_check

MAX_AMOUNT_FEN = 10**9
MAX_QUANTITY = 100_000
MAX_LINES = 500
FUTURE_TOLERANCE = timedelta(minutes=5)
TEXT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"


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
        "future": "Must not be more than 5 minutes in the future.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) > 40:
            self.fail("invalid")
        try:
            value = datetime.fromisoformat(data)
        except ValueError:
            self.fail("invalid")
        if value.tzinfo is None or value.year < 2000:
            self.fail("invalid")
        if value > timezone.now() + FUTURE_TOLERANCE:
            self.fail("future")
        return value

    def to_representation(self, value):
        return value.isoformat()


class PurchaseLineSerializer(serializers.Serializer):
    line_no = StrictIntegerField(min_value=1, max_value=10_000)
    sku = serializers.CharField(required=False, max_length=64)
    category = serializers.SlugField(required=False, max_length=60)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)
    amount_fen = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT_FEN)

    def validate(self, attrs):
        if bool(attrs.get("sku")) == bool(attrs.get("category")):
            raise serializers.ValidationError({"sku": "Give exactly one of sku or category."})
        return attrs


class PurchaseSerializer(serializers.Serializer):
    # Exactly one: the member number, or the card code the member shows (number + dynamic code).
    member_no = serializers.CharField(required=False, max_length=32)
    card_code = StrictCharField(required=False, max_length=32)
    receipt_no = serializers.RegexField(TEXT_ID, max_length=64)
    occurred_at = OffsetDateTimeField()
    store = serializers.SlugField(required=False, max_length=60)
    lines = PurchaseLineSerializer(many=True, allow_empty=False, max_length=MAX_LINES)

    def validate_member_no(self, value):
        try:
            return member_no_check(value)
        except InvalidMemberNumber as error:
            raise serializers.ValidationError(str(error), code=error.code) from error

    def validate(self, attrs):
        if bool(attrs.get("member_no")) == bool(attrs.get("card_code")):
            raise serializers.ValidationError(
                {"member_no": "Give exactly one of member_no or card_code."}
            )
        return attrs

    def validate_lines(self, lines):
        numbers = [line["line_no"] for line in lines]
        if len(numbers) != len(set(numbers)):
            raise serializers.ValidationError("Each line_no must appear once.")
        if sum(line["amount_fen"] for line in lines) > MAX_AMOUNT_FEN:
            raise serializers.ValidationError("The purchase total is implausibly large.")
        return lines


class RefundLineSerializer(serializers.Serializer):
    line_no = StrictIntegerField(min_value=1, max_value=10_000)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)


class RefundSerializer(serializers.Serializer):
    receipt_no = serializers.RegexField(TEXT_ID, max_length=64)
    refund_no = serializers.RegexField(TEXT_ID, max_length=64)
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
