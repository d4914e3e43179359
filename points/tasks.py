"""Celery tasks: thin wrappers around services."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from points.models import Notification
from points.services.sealing import ledger_seal


@shared_task
def seal_ledger_task() -> int:
    return ledger_seal()


@shared_task(
    bind=True, max_retries=6, retry_backoff=True, retry_backoff_max=3600, retry_jitter=True
)
def send_notification_email(self, notification_id: int) -> str:
    """Email one notification; on failure retry with exponential backoff. The inbox row is
    already committed, so a mail server outage never loses the notification."""
    notification = (
        Notification.objects.select_related("member__user").filter(pk=notification_id).first()
    )
    if notification is None or notification.email_status != Notification.EmailStatus.PENDING:
        return "skipped"
    try:
        send_mail(
            subject=f"[积分] {notification.title}",
            message=f"{notification.body}\n\n{notification.link}".strip(),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[notification.member.user.email],
        )
    except Exception as error:  # noqa: BLE001 - any mail failure is retried, then recorded
        attempts = notification.email_attempts + 1
        # Eager (no broker): never raise into the request that sent it; stays pending.
        final = self.request.retries >= self.max_retries
        if self.request.is_eager and not final:
            Notification.objects.filter(pk=notification.pk).update(email_attempts=attempts)
            return "pending"
        Notification.objects.filter(pk=notification.pk).update(
            email_attempts=attempts,
            email_status=Notification.EmailStatus.FAILED
            if final
            else Notification.EmailStatus.PENDING,
        )
        if final:
            return "failed"
        raise self.retry(exc=error) from error
    with transaction.atomic():
        Notification.objects.filter(pk=notification.pk).update(
            email_status=Notification.EmailStatus.SENT,
            email_attempts=notification.email_attempts + 1,
        )
    return "sent"
