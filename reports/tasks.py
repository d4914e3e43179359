"""Celery tasks: thin wrappers around the report services."""

from celery import shared_task

from reports.periods import parse_month
from reports.services.green import green_reports_monthly
from reports.services.integrity import ledger_verification_run


@shared_task
def green_reports_monthly_task(month: str | None = None) -> int:
    """Last month's green reports (or `month`, YYYY-MM), with a notification each."""
    return green_reports_monthly(period=parse_month(month) if month else None)


@shared_task
def verify_ledger_task(requested_by: str = "system") -> int:
    return ledger_verification_run(requested_by=requested_by).pk
