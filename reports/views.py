"""Report pages: the member's green reports, and staff and merchant analytics."""

from __future__ import annotations

import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from points.csv_writer import csv_writer
from points.models import Community
from points.services.sealing import ledger_seal
from points.views import member_for
from reports.access import merchant_of, platform_staff_required
from reports.audit import BadFilter, audit_filters
from reports.charts import bar_chart_svg
from reports.forms import AuditExportForm, MonthForm
from reports.models import AuditExport, GreenReport
from reports.periods import BadPeriod, Period, current_month, parse_month, parse_year
from reports.selectors import (
    community_figures,
    ledger_integrity_status,
    member_green_reports,
    merchant_figures,
    period_name,
    settlement_statement,
    top_rewards,
)
from reports.services.audit import audit_export
from reports.services.green import REPORT_LANGUAGE, green_report_generate, render_pdf
from reports.tasks import verify_ledger_task


def _period_from(request, *, kind: str = "month") -> Period:
    """The ?month= (or ?year=) of the request, the current one by default."""
    if kind == "year":
        text = request.GET.get("year")
        return parse_year(text) if text else Period("year", current_month().start.replace(month=1))
    text = request.GET.get("month")
    return parse_month(text) if text else current_month()


def _bad_period(request, template: str, error: BadPeriod, context: dict | None = None):
    return render(request, template, {"error": str(error), **(context or {})}, status=400)


def _pdf_response(html: str, filename: str) -> HttpResponse:
    response = HttpResponse(render_pdf(html), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- Member: green reports --------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def green_list(request):
    member = member_for(request)  # the request's one member lookup, shared with the header
    if member is None:
        raise Http404
    form = MonthForm(request.POST or None, initial={"month": current_month().label})
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            period = parse_month(form.cleaned_data["month"])
        except BadPeriod as error:
            form.add_error("month", str(error))
        else:
            if period.start > current_month().start:
                form.add_error("month", _("That month has not started yet."))
            else:
                green_report_generate(member=member, period=period)
                messages.success(request, _("Your report is ready."))
                return redirect("reports:green_list")
    if form.errors:
        status = 400
    context = {"member": member, "reports": member_green_reports(member), "form": form}
    return render(request, "reports/green_list.html", context, status=status)


@login_required
def green_download(request, pk: int):
    # Someone else's report is "not found", never "forbidden": its existence is private.
    report = get_object_or_404(GreenReport, pk=pk, member__user=request.user)
    if not report.file or not report.file.storage.exists(report.file.name):
        raise Http404
    return FileResponse(
        report.file.open("rb"),
        as_attachment=True,
        filename=f"green-report-{report.label}.pdf",
        content_type="application/pdf",
    )


# --- Staff --------------------------------------------------------------------------------


@platform_staff_required
def staff_index(request):
    return render(request, "reports/staff_index.html")


@platform_staff_required
def community_list(request):
    return render(request, "reports/community_list.html", {"communities": Community.objects.all()})


@platform_staff_required
def community_report(request, pk: int):
    community = get_object_or_404(Community, pk=pk)
    try:
        period = _period_from(request, kind="year")
    except BadPeriod as error:
        return _bad_period(
            request, "reports/community_report.html", error, {"community": community}
        )
    figures = community_figures(community, period)
    chart = bar_chart_svg(
        [(_("month %(month)d") % {"month": m.month.month}, m.kg) for m in figures.months],
        unit="kg CO₂e",
        title=_("CO₂e saved by month"),
    )
    context = {
        "community": community,
        "figures": figures,
        "chart": chart,
        "period_name": period_name(period),
    }
    if request.GET.get("format") == "pdf":
        with translation.override(REPORT_LANGUAGE):
            context["period_name"] = period_name(period)
            html = render_to_string("reports/pdf/community_report.html", context)
        return _pdf_response(html, f"community-{community.pk}-{period.label}.pdf")
    return render(request, "reports/community_report.html", context)


@login_required
def merchant_analytics(request):
    merchant = merchant_of(request.user)
    if merchant is None:
        raise PermissionDenied
    try:
        period = _period_from(request)
    except BadPeriod as error:
        return _bad_period(request, "reports/merchant_analytics.html", error)
    figures = merchant_figures(merchant, period)
    chart = bar_chart_svg(
        [(_("month %(month)d") % {"month": m["month"].month}, m["issued"]) for m in figures.months],
        unit=_("points"),
        highlight=len(figures.months) - 1,
        title=_("Points issued by month"),
    )
    return render(
        request,
        "reports/merchant_analytics.html",
        {
            "figures": figures,
            "chart": chart,
            "period_name": period_name(period),
            "top_rewards": top_rewards(merchant, period),
        },
    )


@platform_staff_required
def settlement(request):
    try:
        period = _period_from(request)
    except BadPeriod as error:
        return _bad_period(request, "reports/settlement.html", error)
    statement = settlement_statement(period)
    output = request.GET.get("format", "html")
    if output == "csv":
        buffer = io.StringIO()
        writer = csv_writer(buffer, bom=True)
        writer.writerow(
            [
                _("Merchant"),
                _("Slug"),
                _("Points issued"),
                _("Points redeemed"),
                _("Net points"),
                _("Net (fen)"),
                _("Of which platform bonus points"),
                _("Bonus points paid"),
                _("Of which adjustment points"),
            ]  # fmt: skip
        )
        for line in statement.lines:
            writer.writerow(
                [
                    line.name,
                    line.slug,
                    line.issued,
                    line.redeemed,
                    line.net_points,
                    line.net_fen,
                    line.redeemed_bonus,
                    line.bonus_paid,
                    line.redeemed_adjusted,
                ]
            )
        writer.writerow(
            [
                _("Total"),
                "",
                statement.issued,
                statement.redeemed,
                statement.net_points,
                statement.net_fen,
            ]  # fmt: skip
        )
        response = HttpResponse(buffer.getvalue().encode(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="settlement-{period.label}.csv"'
        return response
    context = {"statement": statement, "period_name": period_name(period)}
    if output == "pdf":
        with translation.override(REPORT_LANGUAGE):
            context["period_name"] = period_name(period)
            html = render_to_string("reports/pdf/settlement.html", context)
        return _pdf_response(html, f"settlement-{period.label}.pdf")
    return render(request, "reports/settlement.html", context)


def _audit_page(request, form, status=200):
    exports = AuditExport.objects.select_related("user")[:50]
    return render(request, "reports/audit.html", {"form": form, "exports": exports}, status=status)


@platform_staff_required
def audit(request):
    today = timezone.localdate()
    form = AuditExportForm(
        initial={
            "date_from": today.replace(day=1).isoformat(),
            "date_to": today.isoformat(),
            "file_format": "csv",
        }
    )
    return _audit_page(request, form)


@platform_staff_required
@require_http_methods(["GET", "POST"])
def audit_export_view(request):
    """POST (CSRF-checked) starts an export; a GET only shows the form, so a link from
    another site cannot start a whole-ledger export in a staff member's name."""
    if request.method != "POST":
        return audit(request)
    form = AuditExportForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            filters = audit_filters(
                date_from=data["date_from"],
                date_to=data["date_to"],
                member=data["member"],
                merchant=data["merchant"],
                kind=data["kind"],
            )
        except BadFilter as error:
            form.add_error(None, str(error))
        else:
            log, stream = audit_export(
                filters=filters,
                file_format=data["file_format"],
                user=request.user,
                actor=request.user.get_username(),
            )
            content_type = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
            response = StreamingHttpResponse(stream, content_type=content_type[log.file_format])
            response["Content-Disposition"] = (
                f'attachment; filename="audit-{filters.date_from}-{filters.date_to}'
                f'.{log.file_format}"'
            )
            response["X-Audit-Export-Id"] = str(log.pk)
            return response
    return _audit_page(request, form, status=400)


@platform_staff_required
def integrity(request):
    return render(request, "reports/integrity.html", {"status": ledger_integrity_status()})


@platform_staff_required
@require_POST
def integrity_run(request):
    requested_by = request.user.get_username()
    transaction.on_commit(lambda: verify_ledger_task.delay(requested_by))
    messages.success(request, _("Ledger verification started; reload this page for the result."))
    return redirect("reports:integrity")


@platform_staff_required
@require_POST
def integrity_seal(request):
    """Seal every unsealed transaction and sign a checkpoint now (with no broker, e.g.
    `make run`, nothing else seals)."""
    sealed = ledger_seal()
    messages.success(request, _("Sealed %(count)s transactions.") % {"count": sealed})
    return redirect("reports:integrity")
