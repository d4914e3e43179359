from django.contrib import admin

from .models import AuditExport, GreenReport, LedgerVerification

# The admin index links the report pages this user may open.
admin.site.index_template = "reports/admin/index.html"


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(GreenReport)
class GreenReportAdmin(ReadOnlyAdmin):
    list_display = (
        "member",
        "period",
        "period_start",
        "green_points",
        "carbon_saved_g",
        "created_at",
    )
    list_filter = ("period",)
    search_fields = ("member__member_no",)


@admin.register(AuditExport)
class AuditExportAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "actor", "file_format", "status", "row_count", "sha256")
    list_filter = ("status", "file_format")


@admin.register(LedgerVerification)
class LedgerVerificationAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "requested_by", "ok", "transactions", "entries", "sealed")
    list_filter = ("ok",)
