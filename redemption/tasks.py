"""Celery tasks of the catalog: thin wrappers around services."""

from celery import shared_task

from redemption.services.winback import winback_offers_send


@shared_task
def send_winback_offers_task() -> int:
    return winback_offers_send()
