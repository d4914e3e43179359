"""Refusals of the redemption services. Nothing has been written when one is raised.

Each carries a stable `code` and a `message` fit to show a member as it is.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class RedemptionError(Exception):
    code = "redemption_error"
    default_message = _("This redemption cannot be made.")

    def __init__(self, message: object = None, **details: object) -> None:
        self.message = message if message is not None else self.default_message
        self.details = details
        super().__init__(str(self.message))


class InvalidQuantity(RedemptionError):
    code = "invalid_quantity"
    default_message = _("Choose a whole quantity of at least 1.")


class InvalidRequest(RedemptionError):
    code = "invalid_request"
    default_message = _("This request is incomplete; please try again from the reward page.")


class RewardNotAvailable(RedemptionError):
    code = "reward_not_available"
    default_message = _("This reward is not available.")


class PriceBelowFloor(RedemptionError):
    code = "price_below_floor"
    default_message = _("This reward's price breaks the value guarantee; it cannot be redeemed.")


class OutOfStock(RedemptionError):
    code = "out_of_stock"
    default_message = _("Sorry, this reward is out of stock.")


class LimitReached(RedemptionError):
    code = "limit_reached"
    default_message = _("You have reached the limit for this reward.")


class InsufficientPoints(RedemptionError):
    code = "insufficient_points"
    default_message = _("You do not have enough points for this reward.")


class NegativeBalance(RedemptionError):
    code = "negative_balance"
    default_message = _(
        "Your points balance is negative (points owed after a refund). Redemption is "
        "possible again once new points have repaid it."
    )


class NotCancellable(RedemptionError):
    code = "not_cancellable"
    default_message = _("This redemption can no longer be cancelled.")


class NotFulfillable(RedemptionError):
    code = "not_fulfillable"
    default_message = _("This redemption cannot be marked fulfilled.")


class VoucherNotUsable(RedemptionError):
    code = "voucher_not_usable"
    default_message = _("This voucher cannot be used.")


class OfferNotValid(RedemptionError):
    code = "offer_not_valid"
    default_message = _("This offer cannot be used.")
