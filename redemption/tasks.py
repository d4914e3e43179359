"""Celery tasks of the catalog: thin wrappers around services."""

from dataclasses import asdict

from celery import shared_task

from redemption.services.announcements import exchange_days_announce
from redemption.services.digests import merchant_digests_send
from redemption.services.winback import winback_offers_send


@shared_task
def send_winback_offers_task() -> int:
    return winback_offers_send()


@shared_task
def announce_exchange_days_task() -> dict:
    """Daily: tell members of exchange days EXCHANGE_DAY_NOTICE_DAYS days ahead."""
    run = asdict(exchange_days_announce())
    run["day"] = run["day"].isoformat() if run["day"] else None
    run["rewards"] = {str(k): v for k, v in run["rewards"].items()}
    return run


@shared_task
def send_merchant_digests_task() -> int:
    """Daily: email each merchant's users their new and waiting redemptions."""
    return merchant_digests_send()
