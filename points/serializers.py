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
