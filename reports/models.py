"""Stored green reports, the log of audit exports and the results of ledger verification.

Reports only read the ledger and purchases; nothing here writes a ledger row.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def green_report_path(report: "GreenReport", filename: str) -> str:
    return f"reports/green/{report.member.member_no}/{filename}"


class GreenReport(models.Model):
    """A member's green-consumption PDF for one month or one year."""

    class Period(models.TextChoices):
        MONTH = "month", _("Month")
        YEAR = "year", _("Year")

    member = models.ForeignKey(
        "points.Member",
        on_delete=models.CASCADE,
        related_name="green_reports",
        verbose_name=_("member"),
    )
    period = models.CharField(_("period"), max_length=5, choices=Period.choices)
    period_start = models.DateField(_("period starts on"))
    file = models.FileField(_("file"), upload_to=green_report_path, max_length=255)
    green_points = models.BigIntegerField(_("green points"), default=0)
    carbon_saved_g = models.BigIntegerField(_("CO₂e saved (g)"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-period_start", "period"]
        verbose_name = _("green report")
        verbose_name_plural = _("green reports")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "period", "period_start"], name="greenreport_once_per_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member} {self.label}"

    @property
    def label(self) -> str:
        if self.period == self.Period.YEAR:
            return f"{self.period_start:%Y}"
        return f"{self.period_start:%Y-%m}"


class AuditExport(models.Model):
    """One export of the audit trail: who, when, which filters, how many rows, its sha256.

    Written as "started" before the first byte and completed after the last, so an export
    that was interrupted is still on record.
    """

    class Status(models.TextChoices):
        STARTED = "started", _("Started")
        COMPLETE = "complete", _("Complete")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    actor = models.CharField(_("actor"), max_length=150)
    filters = models.JSONField(_("filters"), default=dict)
    file_format = models.CharField(_("format"), max_length=5)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.STARTED
    )
    row_count = models.BigIntegerField(_("rows"), null=True, blank=True)
    sha256 = models.CharField(_("sha256"), max_length=64, blank=True)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("audit export")
        verbose_name_plural = _("audit exports")

    def __str__(self) -> str:
        return f"{self.actor} {self.started_at:%Y-%m-%d %H:%M}"


class LedgerVerification(models.Model):
    """The outcome of one run of `ledger_verify` started from the integrity page or a task."""

    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    requested_by = models.CharField(_("requested by"), max_length=150, default="system")
    ok = models.BooleanField(_("ok"), null=True)
    transactions = models.BigIntegerField(_("transactions"), default=0)
    entries = models.BigIntegerField(_("entries"), default=0)
    sealed = models.BigIntegerField(_("sealed"), default=0)
    unsealed = models.BigIntegerField(_("unsealed"), default=0)
    problems = models.JSONField(_("problems"), default=list, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("ledger verification")
        verbose_name_plural = _("ledger verifications")

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {'OK' if self.ok else 'FAILED'}"
