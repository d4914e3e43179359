"""Green-consumption reports: render a member's PDF, store it, and the monthly run."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from points.models import Member, Notification, Purchase
from points.services.notifications import notification_send
from reports.charts import bar_chart_svg
from reports.models import GreenReport
from reports.periods import Period, previous_month
from reports.selectors import (
    TREE_KG_CO2_PER_YEAR,
    GreenFigures,
    kg,
    member_green_figures,
    period_name,
)

REPORT_LANGUAGE = "zh-hans"


def render_pdf(html: str) -> bytes:
    """HTML to PDF with WeasyPrint (fonts: Noto Sans CJK SC, embedded as a subset)."""
    from weasyprint import HTML  # imported here: loading pango is slow and only PDFs need it

    return HTML(string=html).write_pdf()


def green_trend_chart(figures: GreenFigures):
    highlight = len(figures.trend) - 1 if figures.period.kind == "month" else None
    return bar_chart_svg(
        [
            (_("month %(month)d") % {"month": row["month"].month}, row["kg"])
            for row in figures.trend
        ],
        unit="kg CO₂e",
        highlight=highlight,
        reference=(
            figures.community_average_kg / figures.months_in_period
            if figures.community_average_kg is not None
            else None
        ),
        reference_label=_("Community monthly average"),
        title=_("CO₂e saved, last 12 months"),
    )


def green_report_html(*, member: Member, period: Period) -> tuple[str, GreenFigures]:
    figures = member_green_figures(member, period)
    with translation.override(REPORT_LANGUAGE):
        html = render_to_string(
            "reports/pdf/green_report.html",
            {
                "figures": figures,
                "member": member,
                "period": period,
                "period_name": period_name(period),
                "chart": green_trend_chart(figures),
                "tree_kg": TREE_KG_CO2_PER_YEAR,
            },
        )
    return html, figures


def green_report_render(*, member: Member, period: Period) -> tuple[bytes, GreenFigures]:
    """The PDF of a member's green report for a month or a year, and its figures."""
    html, figures = green_report_html(member=member, period=period)
    return render_pdf(html), figures


def green_report_generate(*, member: Member, period: Period) -> GreenReport:
    """Render and store the member's report for the period (replacing an older copy)."""
    pdf, figures = green_report_render(member=member, period=period)
    with transaction.atomic():
        report = (
            GreenReport.objects.select_for_update()
            .filter(member=member, period=period.kind, period_start=period.start)
            .first()
        ) or GreenReport(member=member, period=period.kind, period_start=period.start)
        old_file = report.file.name if report.file else None
        report.green_points = figures.green_points
        report.carbon_saved_g = figures.carbon_g
        report.file.save(f"green-{member.member_no}-{period.label}.pdf", ContentFile(pdf))
    if old_file and old_file != report.file.name:
        report.file.storage.delete(old_file)
    return report


def green_reports_monthly(*, period: Period | None = None) -> int:
    """Produce last month's report for every member who bought something in it, and tell
    each of them (once) in their inbox. Returns how many reports were made."""
    period = period or previous_month()
    start, end = period.bounds
    members = Member.objects.filter(
        pk__in=Purchase.objects.filter(occurred_at__gte=start, occurred_at__lt=end).values("member")
    ).select_related("community", "user")
    made = 0
    for member in members.iterator(chunk_size=200):
        report = green_report_generate(member=member, period=period)
        made += 1
        with translation.override(REPORT_LANGUAGE):
            notification_send(
                member=member,
                kind=Notification.Kind.REPORT_READY,
                title=_("Your green report for %(period)s is ready")
                % {"period": period_name(period)},
                body=_("You saved %(kg)s kg CO₂e and earned %(points)s green points.")
                % {"kg": kg(report.carbon_saved_g), "points": report.green_points},
                link=reverse("reports:green_list"),
                dedupe_key=f"green-report:{member.pk}:{period.label}",
            )
    return made
