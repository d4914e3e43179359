"""Notifications: the in-site inbox row is written first, in the caller's transaction; the
email is sent afterwards by a Celery task queued on commit, retried with backoff, and a
failed email never loses the inbox row."""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string, select_template
from django.utils import timezone

from points.models import Member, Notification
from points.statements import AttachedWrite, from_json_row, insert_fields, json_row, unsaved

logger = logging.getLogger(__name__)
# points/tasks.py defines it; Celery's autodiscovery registers it.
SEND_NOTIFICATION_EMAIL_TASK = "points.tasks.send_notification_email"


def queue_notification_email(notification_id: int) -> bool:
    """Hand one email to Celery; run on commit. If the broker (Redis) is down the write that
    sent it has already committed and the row stays `pending` (the table is the outbox):
    `notification_emails_retry` queues it again once the broker is back. Never raises."""
    try:
        # By name from the app's registry: services never import tasks (tasks import services).
        send_email = current_app.tasks[SEND_NOTIFICATION_EMAIL_TASK]
        send_email.apply_async((notification_id,), retry=False)
    except Exception as error:  # noqa: BLE001 - any broker failure leaves the row pending
        logger.warning("Email of notification %s not queued (broker: %s)", notification_id, error)
        return False
    return True


def _inbox_row(
    *, member: Member, kind: str, title: str, body: str, link: str, dedupe_key: str | None = None
) -> Notification:
    email = member.user.email if member.user_id else ""
    return unsaved(
        Notification,
        member=member,
        kind=kind,
        title=title[:200],
        body=body,
        link=link[:300],
        dedupe_key=dedupe_key,
        email_status=(Notification.EmailStatus.PENDING if email else Notification.EmailStatus.NONE),
    )


def _queue_email_on_commit(notification: Notification) -> None:
    if notification.email_status == Notification.EmailStatus.PENDING:
        transaction.on_commit(lambda: queue_notification_email(notification.pk))


def notification_send(
    *,
    member: Member,
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    dedupe_key: str | None = None,
) -> Notification | None:
    """Put a notification in the member's inbox and queue its email.

    With a `dedupe_key`, the same notification is never created twice (None is returned
    for a duplicate).
    """
    notification = _inbox_row(
        member=member, kind=kind, title=title, body=body, link=link, dedupe_key=dedupe_key
    )
    if not dedupe_key:
        notification.save()  # nothing can collide: no savepoint needed
    else:
        with transaction.atomic():  # a savepoint: a duplicate must not spoil the caller's work
            if Notification.objects.filter(dedupe_key=dedupe_key).exists():
                return None
            try:
                with transaction.atomic():
                    notification.save()
            except IntegrityError:
                return None
    _queue_email_on_commit(notification)
    return notification


def notification_attached(
    *, member: Member, kind: str, title: str, body: str = "", link: str = ""
) -> tuple[Notification, AttachedWrite]:
    """`notification_send` as a write attached to a ledger posting (`ledger_credit_at_once`):
    the inbox row is inserted by the posting's own statement, only if it posts. Once it has,
    call `notification_attached_sent` with the id it returned."""
    notification = _inbox_row(member=member, kind=kind, title=title, body=body, link=link)
    fields, columns = insert_fields(Notification)
    write = AttachedWrite(
        name="notification",
        sql=f"INSERT INTO points_notification ({columns}) "
        f"SELECT {columns} FROM txn, {from_json_row(Notification, 'inbox')} RETURNING id",
        params=[json_row(notification, fields)],
        returns="(SELECT id FROM notification)",
    )
    return notification, write


def notification_attached_sent(notification: Notification, pk: int) -> Notification:
    """The attached notification was inserted with id `pk`: queue its email on commit."""
    notification.pk = pk
    notification._state.adding = False
    _queue_email_on_commit(notification)
    return notification


def notifications_mark_read(*, member: Member, ids: list[int] | None = None) -> int:
    """Mark the member's notifications (all, or the given ids) read; returns how many."""
    unread = Notification.objects.filter(member=member, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


# Tried this many times in all (the task's own retries included), then marked failed.
EMAIL_MAX_ATTEMPTS = 7


def notification_email(notification: Notification) -> EmailMultiAlternatives:
    """The notification as a Chinese email: plain text from `points/email/<kind>.txt` (or the
    generic `notification.txt`) with an HTML alternative."""
    user = notification.member.user
    link = notification.link
    if link.startswith("/"):
        link = f"{settings.SITE_URL}{link}"
    context = {
        "notification": notification,
        "member": notification.member,
        "greeting_name": user.get_full_name() or user.get_username(),
        "link": link,
    }
    text = select_template(
        [f"points/email/{notification.kind}.txt", "points/email/notification.txt"]
    ).render(context)
    message = EmailMultiAlternatives(
        subject=f"[积分] {notification.title}",
        body=text.strip() + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )
    html = render_to_string("points/email/notification.html", context)
    message.attach_alternative(html, "text/html")
    return message


def notification_emails_retry(
    *, now: datetime | None = None, stale_after: timedelta = timedelta(minutes=15)
) -> int:
    """Queue again the emails still pending well after they were created (an eager send that
    failed, a worker lost mid-retry); give up on those tried EMAIL_MAX_ATTEMPTS times.
    Returns how many were queued. The inbox rows are never touched."""
    now = now or timezone.now()
    stale = Notification.objects.filter(
        email_status=Notification.EmailStatus.PENDING, created_at__lte=now - stale_after
    )
    stale.filter(email_attempts__gte=EMAIL_MAX_ATTEMPTS).update(
        email_status=Notification.EmailStatus.FAILED
    )
    ids = list(
        stale.filter(email_attempts__lt=EMAIL_MAX_ATTEMPTS)
        .order_by("id")
        .values_list("id", flat=True)[:1000]
    )
    for notification_id in ids:
        transaction.on_commit(functools.partial(queue_notification_email, notification_id))
    return len(ids)
