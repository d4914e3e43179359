"""Manual points adjustments by platform staff, with a two-person rule for large ones.

An adjustment grants (+) or deducts (−) standard points with a mandatory reason. It posts
through `ledger_post` (kind "adjust"): member standard ±P, the `adjustment` system account ∓P.
At most ADJUSTMENT_APPROVAL_THRESHOLD points (either way) are applied when requested; more
wait until a different platform-staff user approves. The threshold holds for the sum of a
member's adjustments over any rolling 24 hours and for each requester's total per day, so
splitting one large adjustment into small ones cannot bypass the second person. A deduction
never takes more than the member can spend (no debt is created by hand).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Abs
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from points.models import Account, AdjustmentRequest, LedgerTransaction, Member, Notification
from points.selectors import spendable_balance
from points.services.accounts import adjustment_account
from points.services.ledger import InsufficientPoints, Posting, ledger_post
from points.services.notifications import member_notify

MAX_ADJUSTMENT_POINTS = 10_000_000
REQUEST_PERMISSION = "points.add_adjustmentrequest"
APPROVE_PERMISSION = "points.approve_adjustmentrequest"


class AdjustmentError(Exception):
    """A refused adjustment; nothing has been written. `message` is fit to show staff."""

    code = "adjustment_error"

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class ReasonRequired(AdjustmentError):
    code = "reason_required"


class InvalidAdjustment(AdjustmentError):
    code = "invalid_adjustment"


class NotAllowed(AdjustmentError):
    code = "not_allowed"


class SelfApproval(AdjustmentError):
    code = "self_approval"


class NotPending(AdjustmentError):
    code = "not_pending"


class DeductionTooLarge(AdjustmentError):
    code = "insufficient_points"


def needs_approval(points: int) -> bool:
    threshold: int = settings.ADJUSTMENT_APPROVAL_THRESHOLD
    return abs(points) > threshold


def _adjusted_points(requests) -> int:
    """The sum of |points| of `requests` not rejected (pending ones count: they may apply)."""
    return (
        requests.exclude(status=AdjustmentRequest.Status.REJECTED).aggregate(
            total=Sum(Abs("points"))
        )["total"]
        or 0
    )


def split_needs_approval(*, member: Member, points: int, requested_by, now: datetime) -> bool:
    """Whether this request, with the member's last 24 hours and the requester's day, goes
    past the threshold. Call with the member's and the requester's rows locked."""
    threshold = settings.ADJUSTMENT_APPROVAL_THRESHOLD
    member_day = _adjusted_points(
        AdjustmentRequest.objects.filter(member=member, requested_at__gt=now - timedelta(days=1))
    )
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    requester_day = _adjusted_points(
        AdjustmentRequest.objects.filter(
            Q(requested_at__gte=day_start, requested_at__lt=day_start + timedelta(days=1)),
            requested_by=requested_by,
        )
    )
    return max(member_day, requester_day) + abs(points) > threshold


def adjustment_validate(
    *, member: Member, points: Any, reason: Any, now: datetime | None = None
) -> str:
    """Check an adjustment before it is requested; return the cleaned reason.

    Raises `ReasonRequired`, `InvalidAdjustment` or `DeductionTooLarge` (a deduction larger
    than the member's spendable points).
    """
    cleaned = str(reason or "").strip()
    if not cleaned:
        raise ReasonRequired(_("A reason is required for every adjustment."))
    if len(cleaned) > 255:
        raise InvalidAdjustment(_("Keep the reason to 255 characters."))
    if type(points) is not int or points == 0 or abs(points) > MAX_ADJUSTMENT_POINTS:
        raise InvalidAdjustment(
            _("Points must be a whole number from 1 to %(most)s, negative to deduct.")
            % {"most": MAX_ADJUSTMENT_POINTS}
        )
    if points < 0:
        available = _spendable(member, now=now)
        if -points > available:
            raise _deduction_too_large(-points, available)
    return cleaned


def adjustment_request(
    *, member: Member, points: int, reason: str, requested_by: Any, now: datetime | None = None
) -> AdjustmentRequest:
    """Record an adjustment; apply it at once unless it needs a second user's approval.

    Returns the request: status `applied` (with its ledger transaction) or `pending`.
    """
    if not requested_by.has_perm(REQUEST_PERMISSION):
        raise NotAllowed(_("Only platform staff may adjust points."))
    now = now or timezone.now()
    reason = adjustment_validate(member=member, points=points, reason=reason, now=now)
    with transaction.atomic(durable=True):
        # Two requests at once for one member (or by one requester) see each other's sums.
        Member.objects.select_for_update().filter(pk=member.pk).first()
        get_user_model().objects.select_for_update().filter(pk=requested_by.pk).first()
        large = needs_approval(points) or split_needs_approval(
            member=member, points=points, requested_by=requested_by, now=now
        )
        adjustment = AdjustmentRequest.objects.create(
            member=member,
            points=points,
            reason=reason,
            requested_by=requested_by,
            requested_at=now,
        )
        if not large:
            _apply(adjustment, decided_by=requested_by, now=now)
    return adjustment


def adjustment_approve(
    *, adjustment: AdjustmentRequest, approved_by: Any, now: datetime | None = None
) -> AdjustmentRequest:
    """A second platform-staff user approves a pending adjustment, which is then applied."""
    if not approved_by.has_perm(APPROVE_PERMISSION):
        raise NotAllowed(_("Only platform staff may approve adjustments."))
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        locked = _lock_pending(adjustment)
        if locked.requested_by_id == approved_by.pk:
            raise SelfApproval(
                _("Adjustment #%(id)s needs a second person: you cannot approve your own request.")
                % {"id": locked.pk}
            )
        _apply(locked, decided_by=approved_by, now=now)
    return locked


def adjustment_reject(
    *, adjustment: AdjustmentRequest, rejected_by: Any, now: datetime | None = None
) -> AdjustmentRequest:
    """Reject (or, by its requester, withdraw) a pending adjustment; nothing is posted."""
    if not rejected_by.has_perm(APPROVE_PERMISSION):
        raise NotAllowed(_("Only platform staff may reject adjustments."))
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        locked = _lock_pending(adjustment)
        locked.status = AdjustmentRequest.Status.REJECTED
        locked.decided_by = rejected_by
        locked.decided_at = now
        locked.save(update_fields=["status", "decided_by", "decided_at"])
    return locked


def _lock_pending(adjustment: AdjustmentRequest) -> AdjustmentRequest:
    locked = (
        AdjustmentRequest.objects.select_for_update(of=("self",))
        .select_related("member")
        .get(pk=adjustment.pk)
    )
    if locked.status != AdjustmentRequest.Status.PENDING:
        raise NotPending(
            _("Adjustment #%(id)s is no longer waiting for approval (%(status)s).")
            % {"id": locked.pk, "status": locked.get_status_display()}
        )
    return locked


def _apply(adjustment: AdjustmentRequest, *, decided_by: Any, now: datetime) -> None:
    account = Account.objects.get(member_id=adjustment.member_id, kind=Account.Kind.STANDARD)
    try:
        txn = ledger_post(
            kind=LedgerTransaction.Kind.ADJUST,
            idempotency_key=f"adjustment:{adjustment.pk}",
            postings=[
                Posting(account, adjustment.points),
                Posting(adjustment_account(), -adjustment.points),
            ],
            member=adjustment.member,
            reference=f"adjustment:{adjustment.pk}",
            reason=adjustment.reason,
            actor=f"user:{decided_by.get_username()}",
            breakdown={
                "adjustment": adjustment.pk,
                "requested_by": adjustment.requested_by.get_username(),
                "approved_by": decided_by.get_username(),
            },
            now=now,
        )
    except InsufficientPoints as error:
        raise _deduction_too_large(error.requested, error.available) from error
    adjustment.transaction = txn
    adjustment.status = AdjustmentRequest.Status.APPLIED
    adjustment.decided_by = decided_by
    adjustment.decided_at = now
    adjustment.save(update_fields=["transaction", "status", "decided_by", "decided_at"])
    _notify_adjusted(adjustment)


ADJUSTED_UP_TITLE = gettext_lazy("%(points)s points added to your account")
ADJUSTED_DOWN_TITLE = gettext_lazy("%(points)s points deducted from your account")
ADJUSTED_BODY = gettext_lazy("Our staff adjusted your points. Reason: %(reason)s")


def _notify_adjusted(adjustment: AdjustmentRequest) -> None:
    """Tell the member of a manual adjustment, with its reason, in their language."""
    member_notify(
        member=adjustment.member,
        kind=Notification.Kind.ADJUSTMENT,
        title=ADJUSTED_UP_TITLE if adjustment.points > 0 else ADJUSTED_DOWN_TITLE,
        body=ADJUSTED_BODY,
        params={"points": abs(adjustment.points), "reason": adjustment.reason},
        link=reverse("history"),
        dedupe_key=f"adjustment:{adjustment.pk}",
    )


def _spendable(member: Member, *, now: datetime | None) -> int:
    account = Account.objects.filter(member=member, kind=Account.Kind.STANDARD).first()
    if account is None or account.balance < 0:
        return 0
    return spendable_balance(account, now=now)


def _deduction_too_large(requested: int, available: int) -> DeductionTooLarge:
    return DeductionTooLarge(
        _("The member can spend only %(available)s points; %(requested)s cannot be deducted.")
        % {"available": available, "requested": requested}
    )
