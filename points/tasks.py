"""Celery tasks: thin wrappers around services."""

from celery import shared_task

from points.services.sealing import ledger_seal


@shared_task
def seal_ledger_task() -> int:
    return ledger_seal()
