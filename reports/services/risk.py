"""The daily 风控 email: yesterday's flagged rows, to platform staff."""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from reports.access import PLATFORM_STAFF
from reports.risk import risk_report


def risk_recipients() -> list[str]:
    """Emails of active platform staff and superusers."""
    users = (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(Q(is_superuser=True) | Q(groups__name=PLATFORM_STAFF))
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )
    return sorted(set(users))


def risk_report_email(*, day: date | None = None) -> int:
    """Email the flagged rows of `day` (default: yesterday) to staff; the number of flagged
    rows. Nothing flagged, or nobody to tell: no email."""
    day = day or timezone.localdate() - timedelta(days=1)
    report = risk_report(first=day, last=day)
    flagged = (
        len(report.flagged_rows) + len(report.flagged_adjustments) + len(report.flagged_activities)
    )
    recipients = risk_recipients()
    if not flagged or not recipients:
        return flagged
    with translation.override("zh-hans"):
        subject = _("Risk control: %(count)d flagged rows on %(day)s") % {
            "count": flagged,
            "day": day.isoformat(),
        }
        body = render_to_string("reports/email/risk.txt", {"report": report, "day": day})
    send_mail(subject, body, None, recipients)
    return flagged
