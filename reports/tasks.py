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


@shared_task
def risk_report_email_task(day: str | None = None) -> int:
    """Yesterday's (or `day`'s, YYYY-MM-DD) flagged 风控 rows, emailed to platform staff."""
    from datetime import date

    from reports.services.risk import risk_report_email

    return risk_report_email(day=date.fromisoformat(day) if day else None)
