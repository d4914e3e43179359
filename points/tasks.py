"""Celery tasks: thin wrappers around services."""

from dataclasses import asdict

from celery import shared_task
from django.db import transaction

from points.models import Notification
from points.services.expiry import points_expire_and_notify
from points.services.notifications import notification_email, notification_emails_retry
from points.services.reminders import expiry_reminders_send
from points.services.retry import call_with_db_retry
from points.services.sealing import ledger_seal


@shared_task
def seal_ledger_task() -> int:
    return call_with_db_retry(ledger_seal)


@shared_task
def expire_points_task(batch_size: int | None = None) -> dict:
    """Daily: expire lots past due (set-based batches; safe to overlap), tell the members."""
    # Every batch commits alone and is idempotent: a rerun after an abort finishes the job.
    options = {"batch_size": batch_size} if batch_size else {}
    return asdict(call_with_db_retry(points_expire_and_notify, **options))


@shared_task
def send_expiry_reminders_task() -> dict:
    """Daily: remind members of points expiring within the configured thresholds."""
    return asdict(expiry_reminders_send())


@shared_task
def retry_pending_emails_task() -> int:
    """Periodically: queue again notification emails left pending."""
    return notification_emails_retry()


# ignore_result: nobody reads it, and queueing then needs only the broker (see reliability.md).
@shared_task(
    bind=True,
    ignore_result=True,
    max_retries=6,
    retry_backoff=True,
    retry_backoff_max=3600,
    retry_jitter=True,
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
        notification_email(notification).send()
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
