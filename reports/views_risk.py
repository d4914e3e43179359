"""/staff/risk/ (风控): per merchant and day, the signs of farmed points. Platform staff only.

And /staff/merchant/settlement/: a merchant user's own line of the monthly settlement.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from reports.access import merchant_of, platform_staff_required
from reports.periods import BadPeriod
from reports.risk import MOST_DAYS, risk_report
from reports.selectors import period_name, settlement_statement
from reports.views import _bad_period, _period_from

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


@login_required
def merchant_settlement(request):
    """The settlement of the merchant the user belongs to, and nobody else's."""
    merchant = merchant_of(request.user)
    if merchant is None:
        raise PermissionDenied
    try:
        period = _period_from(request)
        period.bounds  # noqa: B018 - a month past year 9999 has no end: a 400, not a 500
    except (BadPeriod, OverflowError, ValueError):
        error = BadPeriod(_("Enter a month as YYYY-MM, e.g. 2026-11."))
        return _bad_period(request, "reports/settlement.html", error, {"own": merchant})
    statement = settlement_statement(period, merchant=merchant)
    return render(
        request,
        "reports/settlement.html",
        {"statement": statement, "period_name": period_name(period), "own": merchant},
    )
