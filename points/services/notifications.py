"""Notifications: the in-site inbox row is written first, in the caller's transaction; the
email is sent afterwards by a Celery task queued on commit, retried with backoff, and a
failed email never loses the inbox row."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from points.models import Member, Notification


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
    with transaction.atomic():  # a savepoint: a duplicate must not spoil the caller's work
        if dedupe_key and Notification.objects.filter(dedupe_key=dedupe_key).exists():
            return None
        email = member.user.email if member.user_id else ""
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    member=member,
                    kind=kind,
                    title=title[:200],
                    body=body,
                    link=link[:300],
                    dedupe_key=dedupe_key,
                    email_status=(
                        Notification.EmailStatus.PENDING if email else Notification.EmailStatus.NONE
                    ),
                )
        except IntegrityError:
            return None
    if notification.email_status == Notification.EmailStatus.PENDING:
        from points.tasks import send_notification_email

        transaction.on_commit(lambda: send_notification_email.delay(notification.pk))
    return notification


def notifications_mark_read(*, member: Member, ids: list[int] | None = None) -> int:
    """Mark the member's notifications (all, or the given ids) read; returns how many."""
    unread = Notification.objects.filter(member=member, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())
