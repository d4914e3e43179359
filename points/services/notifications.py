"""Notifications: the in-site inbox row is written first, in the caller's transaction; the
email is sent afterwards by a Celery task queued on commit, retried with backoff, and a
failed email never loses the inbox row."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string, select_template
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from points.models import Member, Notification
from points.statements import (
    AttachedWrite,
    from_json_row,
    insert_fields,
    json_row,
    saved_as,
    unsaved,
)

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


class Message:
    """A translatable message (`gettext_lazy`) and its `%(name)s` parameters, rendered only
    when `str()` is called: inside `member_notify`, in the member's language."""

    def __init__(self, text: object, **params: object) -> None:
        self.text = text
        self.params = params

    def __str__(self) -> str:
        rendered = {key: str(value) for key, value in self.params.items()}
        return str(self.text) % rendered if rendered else str(self.text)


class Joined:
    """Messages joined by the language's list separator when rendered."""

    def __init__(self, *parts: object) -> None:
        self.parts = [part for part in parts if part]

    def __str__(self) -> str:
        return _(", ").join(str(part) for part in self.parts)


def member_language(member: Member) -> str:
    """The language the member reads their messages in (the site default if unknown)."""
    codes = {code for code, _name in settings.LANGUAGES}
    return member.language if member.language in codes else settings.LANGUAGE_CODE


def member_notify(
    *,
    member: Member,
    kind: str,
    title: object,
    body: object = "",
    params: dict[str, object] | None = None,
    link: str = "",
    dedupe_key: str | None = None,
) -> Notification | None:
    """Tell the member of a change they did not make, written in *their* language now.

    `title` and `body` are lazy translatable messages (`gettext_lazy`) with `%(name)s`
    placeholders; `params` values are rendered in the same language (lazy ones included).
    The inbox row keeps the rendered text: what the member was told, as they were told it.
    """
    with translation.override(member_language(member)):
        rendered = {key: str(value) for key, value in (params or {}).items()}
        title_text = str(title) % rendered if rendered else str(title)
        body_text = (str(body) % rendered if rendered else str(body)) if body else ""
    return notification_send(
        member=member,
        kind=kind,
        title=title_text,
        body=body_text,
        link=link,
        dedupe_key=dedupe_key,
    )


@dataclass(frozen=True)
class Outgoing:
    """One message for `notifications_send_many`: `title`/`body` are rendered later, in the
    member's language (a `Message`, a lazy string, or plain text)."""

    member: Member
    title: object
    body: object = ""
    link: str = ""
    dedupe_key: str | None = None


def notifications_send_many(*, kind: str, outgoing: Iterable[Outgoing], now: datetime) -> int:
    """Many inbox rows in one INSERT (an expiry run, an announcement): each rendered in its
    member's language (the same message objects once per language), rows whose dedupe key
    exists skipped by the unique index, then the new rows' emails queued on commit. Returns
    how many rows were inserted. Three queries, whatever the number of rows. Rows without a
    dedupe key are not supported here (nothing would tell a rerun from a first run)."""
    rendered: dict[tuple[str, int, int], tuple[str, str]] = {}
    rows = []
    for item in outgoing:
        language = member_language(item.member)
        key = (language, id(item.title), id(item.body))
        if key not in rendered:
            with translation.override(language):
                rendered[key] = (str(item.title), str(item.body) if item.body else "")
        title, body = rendered[key]
        row = _inbox_row(
            member=item.member,
            kind=kind,
            title=title,
            body=body,
            link=item.link,
            dedupe_key=item.dedupe_key,
        )
        row.created_at = now
        rows.append(row)
    keys = [row.dedupe_key for row in rows if row.dedupe_key]
    sent_before = set(
        Notification.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True)
    )
    rows = [row for row in rows if row.dedupe_key not in sent_before]
    if not rows:
        return 0
    # ON CONFLICT DO NOTHING: a concurrent run's rows (same keys) win; ours are skipped.
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    new = Notification.objects.filter(
        dedupe_key__in=[row.dedupe_key for row in rows], created_at=now
    ).values_list("id", "email_status")
    inserted = 0
    for pk, email_status in new:
        inserted += 1
        if email_status == Notification.EmailStatus.PENDING:
            transaction.on_commit(functools.partial(queue_notification_email, pk))
    return inserted


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
    _queue_email_on_commit(saved_as(notification, pk))
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
    """The notification as an email in the member's language: plain text from
    `points/email/<kind>.txt` (or the generic `notification.txt`) with an HTML alternative."""
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
    with translation.override(member_language(notification.member)):
        context["LANGUAGE_CODE"] = translation.get_language()
        text = select_template(
            [f"points/email/{notification.kind}.txt", "points/email/notification.txt"]
        ).render(context)
        html = render_to_string("points/email/notification.html", context)
        subject = _("[Points] %(title)s") % {"title": notification.title}
    message = EmailMultiAlternatives(
        subject=subject,
        body=text.strip() + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )
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
