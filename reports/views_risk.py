"""/staff/risk/ (风控): per merchant and day, the signs of farmed points. Platform staff only."""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from reports.access import platform_staff_required
from reports.risk import MOST_DAYS, risk_report

DEFAULT_DAYS = 7


class BadDays(ValueError):
    pass


def _days(raw) -> int:
    if raw is None or raw == "":
        return DEFAULT_DAYS
    if len(raw) > 3 or not raw.isascii() or not raw.isdigit():
        raise BadDays(_("Days must be a whole number from 1 to %(most)d.") % {"most": MOST_DAYS})
    days = int(raw)
    if not 1 <= days <= MOST_DAYS:
        raise BadDays(_("Days must be a whole number from 1 to %(most)d.") % {"most": MOST_DAYS})
    return days


@platform_staff_required
def risk(request):
    try:
        days = _days(request.GET.get("days"))
    except BadDays as error:
        return render(
            request, "reports/risk.html", {"error": str(error), "days": DEFAULT_DAYS}, status=400
        )
    last = timezone.localdate()
    report = risk_report(first=last - timedelta(days=days - 1), last=last)
    return render(request, "reports/risk.html", {"report": report, "days": days})
