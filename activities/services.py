"""Writes of green activities: approval, check-in, attendance confirmation.

Points reach a member only by `activity_attendance_confirm`, after the end, once, as one
`green_activity` ledger transaction per present member (community account -> member's green
account), capped at GREEN_ACTIVITY_POINTS_MAX_MONTH per member and calendar month.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from activities.models import Activity, CheckIn, CheckInRefusal
from points import dynamic_code
from points.models import Account, LedgerEntry, LedgerTransaction, Member, Notification
from points.services.accounts import community_activity_account
from points.services.ledger import Posting, ledger_post
from points.services.notifications import notification_send

MEMBERS_PER_DEVICE = 3
MIN_ACCOUNT_AGE = timedelta(days=1)


class ActivityError(Exception):
    """A refused activity action; nothing was written (but a refusal's log row)."""

    code = "activity_error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class CheckInRefused(ActivityError):
    code = "check_in_refused"


def device_fingerprint(device_id: str) -> str:
    """What we keep of a browser's device cookie: its sha256."""
    return hashlib.sha256(device_id.encode("utf-8", "replace")).hexdigest()


def activity_approve(*, activity: Activity, actor) -> Activity:
    """Platform staff approve an activity at its current points."""
    with transaction.atomic(durable=True):
        locked = Activity.objects.select_for_update().get(pk=activity.pk)
        if locked.confirmed_at is not None:
            raise ActivityError(_("This activity's attendance is already confirmed."))
        locked.status = Activity.Status.APPROVED
        locked.approved_points = locked.points
        locked.approved_by = actor
        locked.approved_at = timezone.now()
        locked.save(update_fields=["status", "approved_points", "approved_by", "approved_at"])
    return locked


def activity_points_changed(*, activity: Activity) -> None:
    """An organiser changed the points of an approved activity: it waits for approval again."""
    if activity.status == Activity.Status.APPROVED and activity.approved_points != activity.points:
        activity.status = Activity.Status.PENDING


def _refuse(activity: Activity, member: Member, device: str, reason: str, message: str):
    CheckInRefusal.objects.create(activity=activity, member=member, reason=reason, device=device)
    return CheckInRefused(message, code=reason)


def activity_check_in(
    *, activity: Activity, member: Member, code: str, device_id: str, now: datetime | None = None
) -> CheckIn:
    """Record `member` present at `activity`, proven by the code on the organiser's screen.

    Refusals (each logged for the risk page): not approved, outside the time window, wrong or
    expired code, an account younger than a day, a fourth member on one device, full, twice.
    """
    now = now or timezone.now()
    device = device_fingerprint(device_id)
    reasons = CheckInRefusal.Reason
    refusal = None
    with transaction.atomic(durable=True):
        locked = Activity.objects.select_for_update().get(pk=activity.pk)
        if not locked.is_approved:
            refusal = (reasons.NOT_APPROVED, _("This activity has not been approved yet."))
        elif not locked.is_running(now):
            refusal = (reasons.OUTSIDE_WINDOW, _("Check-in is open only while the activity runs."))
        elif not dynamic_code.code_verify(locked.checkin_secret, code, at=now):
            refusal = (reasons.WRONG_CODE, _("The code is wrong or has expired; scan it again."))
        elif now - member.joined_at < MIN_ACCOUNT_AGE:
            refusal = (reasons.NEW_ACCOUNT, _("Accounts younger than one day cannot check in."))
        elif CheckIn.objects.filter(activity=locked, member=member).exists():
            refusal = (reasons.ALREADY, _("You have already checked in to this activity."))
        elif (
            CheckIn.objects.filter(activity=locked, device=device)
            .values("member")
            .distinct()
            .count()
            >= MEMBERS_PER_DEVICE
        ):
            refusal = (
                reasons.DEVICE_LIMIT,
                _("This phone has already checked in %(n)s members.") % {"n": MEMBERS_PER_DEVICE},
            )
        elif CheckIn.objects.filter(activity=locked).count() >= locked.capacity:
            refusal = (reasons.FULL, _("This activity is full."))
        if refusal is None:
            try:
                with transaction.atomic():
                    return CheckIn.objects.create(
                        activity=locked, member=member, device=device, created_at=now
                    )
            except IntegrityError:
                refusal = (reasons.ALREADY, _("You have already checked in to this activity."))
    # Logged in its own transaction: the refusal stays even though nothing else was written.
    raise _refuse(activity, member, device, *refusal)


def _month_start(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def activity_points_this_month(account_ids: list[int], now: datetime) -> dict[int, int]:
    """Activity points already posted to each green account in `now`'s calendar month."""
    rows = (
        LedgerEntry.objects.filter(
            account_id__in=account_ids,
            transaction__kind=LedgerTransaction.Kind.GREEN_ACTIVITY,
            transaction__created_at__gte=_month_start(now),
        )
        .values("account_id")
        .annotate(total=Sum("points"))
    )
    return {row["account_id"]: row["total"] for row in rows}


def activity_attendance_confirm(
    *, activity: Activity, actor, absent_member_ids: frozenset[int] = frozenset(), now=None
) -> list[CheckIn]:
    """After the end, post each present member's points once; a second call posts nothing.

    `absent_member_ids`: no-shows the organiser removes from the list before confirming.
    Returns the check-ins that were credited (points_awarded may be 0 at the monthly cap).
    """
    now = now or timezone.now()
    cap = settings.GREEN_ACTIVITY_POINTS_MAX_MONTH
    with transaction.atomic(durable=True):
        locked = Activity.objects.select_for_update().get(pk=activity.pk)
        if locked.confirmed_at is not None:
            raise ActivityError(_("This activity's attendance is already confirmed."))
        if not locked.is_approved:
            raise ActivityError(_("This activity has not been approved yet."))
        if now < locked.ends_at:
            raise ActivityError(_("Attendance can be confirmed only after the activity ends."))
        check_ins = list(
            CheckIn.objects.filter(activity=locked)
            .select_related("member__user")
            .order_by("member_id")
        )
        present = []
        for check_in in check_ins:
            if check_in.member_id in absent_member_ids:
                check_in.present = False
                check_in.save(update_fields=["present"])
            else:
                present.append(check_in)
        greens = {
            account.member_id: account
            for account in Account.objects.select_for_update()
            .filter(member_id__in=[c.member_id for c in present], kind=Account.Kind.GREEN)
            .order_by("pk")
        }
        already = activity_points_this_month([a.pk for a in greens.values()], now)
        issuer = community_activity_account(locked.community) if present else None
        for check_in in present:
            green = greens[check_in.member_id]
            points = max(0, min(locked.approved_points, cap - already.get(green.pk, 0)))
            if points:
                check_in.transaction = ledger_post(
                    kind=LedgerTransaction.Kind.GREEN_ACTIVITY,
                    idempotency_key=f"green_activity:{locked.pk}:{check_in.member_id}",
                    postings=[Posting(green, points), Posting(issuer, -points)],
                    member=check_in.member,
                    reference=f"activity:{locked.pk}",
                    reason=locked.title[:200],
                    actor=f"user:{actor.pk}",
                    breakdown={
                        "activity": locked.pk,
                        "approved_points": locked.approved_points,
                        "cap": cap,
                        "already_this_month": already.get(green.pk, 0),
                    },
                    created_at=now,
                )
            check_in.points_awarded = points
            check_in.save(update_fields=["transaction", "points_awarded"])
            _notify(check_in, locked, points)
        locked.confirmed_at = now
        locked.confirmed_by = actor
        locked.save(update_fields=["confirmed_at", "confirmed_by"])
    return present


def _notify(check_in: CheckIn, activity: Activity, points: int) -> None:
    with override(settings.LANGUAGE_CODE):
        if points:
            title = _("%(points)s green points for taking part in %(title)s") % {
                "points": points,
                "title": activity.title,
            }
        else:
            title = _("Thank you for taking part in %(title)s") % {"title": activity.title}
        body = (
            _("Your attendance was confirmed.")
            if points
            else _("You reached this month's limit of activity points, so no points were added.")
        )
    notification_send(
        member=check_in.member,
        kind=Notification.Kind.POINTS,
        title=title,
        body=body,
        link="/activities/",
        dedupe_key=f"activity:{activity.pk}:{check_in.member_id}",
    )
