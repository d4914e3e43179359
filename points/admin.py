"""Back office for the ledger: read-only everywhere, merchant-scoped for merchant users;
members and manual adjustments for platform staff only. The admin site's titles live here."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, Sum
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from merchants.admin_scoping import (
    MerchantScopedAdmin,
    ReadOnlyTabularInline,
    is_platform_user,
)

from .models import (
    Account,
    AdjustmentRequest,
    Community,
    IdentityEvent,
    LedgerEntry,
    LedgerSeal,
    LedgerTransaction,
    LotAllocation,
    Member,
    PointLot,
    Purchase,
    PurchaseLine,
    Refund,
    RuleVersion,
)
from .services.adjustments import (
    AdjustmentError,
    adjustment_approve,
    adjustment_reject,
    adjustment_request,
    adjustment_validate,
)
from .services.members import mask_mobile

admin.site.site_header = _("Jifen back office")
admin.site.site_title = _("Jifen back office")
admin.site.index_title = _("Back office")


class PlatformOnlyMixin:
    """Platform staff and superusers only, whatever model permissions a user holds."""

    def has_module_permission(self, request):
        return is_platform_user(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_platform_user(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return is_platform_user(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return is_platform_user(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_platform_user(request.user) and super().has_delete_permission(request, obj)


@admin.register(Community)
class CommunityAdmin(PlatformOnlyMixin, admin.ModelAdmin):
    list_display = ("name", "kind")
    list_filter = ("kind",)
    search_fields = ("name",)


@admin.register(Member)
class MemberAdmin(PlatformOnlyMixin, admin.ModelAdmin):
    list_display = (
        "member_no",
        "user",
        "masked_mobile",
        "community",
        "joined_at",
        "last_activity_at",
    )
    list_filter = ("community",)
    search_fields = ("member_no", "user__username", "=mobile")
    date_hierarchy = "joined_at"
    fields = ("member_no", "user", "masked_mobile", "community", "joined_at", "last_activity_at")
    readonly_fields = ("member_no", "user", "masked_mobile", "joined_at", "last_activity_at")
    list_select_related = ("user", "community")

    @admin.display(description=_("mobile"))
    def masked_mobile(self, member):
        return mask_mobile(member.mobile)

    def has_add_permission(self, request):
        # Members join by sign-up or at the till (member_create makes their accounts too).
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IdentityEvent)
class IdentityEventAdmin(PlatformOnlyMixin, admin.ModelAdmin):
    """Who proved or used which (masked) number, when: platform staff only, read-only."""

    list_display = ("created_at", "kind", "purpose", "mobile_masked", "member", "actor", "client")
    list_filter = ("kind", "purpose")
    search_fields = ("mobile_masked", "member__member_no", "actor")
    date_hierarchy = "created_at"
    list_select_related = ("member",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(MerchantScopedAdmin):
    """Ledger rows are written only by the ledger service: admin shows, never edits."""

    keeps_ledger_history = True

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerEntryInline(ReadOnlyTabularInline):
    model = LedgerEntry
    fields = ("account", "points")


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    """Merchant users see the transactions of their merchant (earned, redeemed, refunded,
    cancelled, compensated) with member numbers only; platform staff see all."""

    list_display = (
        "id",
        "created_at",
        "kind",
        "member_no",
        "member_points",
        "merchant",
        "reference",
        "actor",
    )
    list_filter = ("kind", "merchant")
    search_fields = ("idempotency_key", "reference", "member__member_no")
    date_hierarchy = "created_at"
    list_select_related = ("member", "merchant")
    inlines = [LedgerEntryInline]
    fields = (
        "kind",
        "created_at",
        "member_no",
        "member_points",
        "merchant",
        "reference",
        "reason",
        "actor",
        "breakdown",
        "reverses",
        "idempotency_key",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                points_to_members=Sum(
                    "entries__points", filter=Q(entries__account__member__isnull=False)
                )
            )
        )

    @admin.display(description=_("member number"), ordering="member__member_no")
    def member_no(self, txn):
        return txn.member.member_no if txn.member_id else "-"

    @admin.display(description=_("member points"), ordering="points_to_members")
    def member_points(self, txn):
        points = getattr(txn, "points_to_members", None)
        return "-" if points is None else f"{points:+d}"

    def get_inlines(self, request, obj):
        return self.inlines if is_platform_user(request.user) else []


@admin.register(Account)
class AccountAdmin(PlatformOnlyMixin, ReadOnlyAdmin):
    list_display = ("code", "kind", "member", "merchant", "balance", "version")
    list_filter = ("kind", "merchant")
    search_fields = ("code", "member__member_no")
    list_select_related = ("member", "merchant")


@admin.register(PointLot)
class PointLotAdmin(PlatformOnlyMixin, ReadOnlyAdmin):
    list_display = ("id", "account", "points", "remaining", "expires_at", "created_at")
    list_filter = ("account__kind",)
    search_fields = ("account__code",)
    list_select_related = ("account",)


@admin.register(LotAllocation)
class LotAllocationAdmin(PlatformOnlyMixin, ReadOnlyAdmin):
    list_display = ("id", "lot", "transaction", "points")
    list_select_related = ("lot", "transaction")


@admin.register(LedgerSeal)
class LedgerSealAdmin(PlatformOnlyMixin, ReadOnlyAdmin):
    list_display = ("id", "transaction", "hash", "sealed_at")


@admin.register(RuleVersion)
class RuleVersionAdmin(ReadOnlyAdmin):
    """The history of the earning rules (points.rule_history): a merchant sees its own."""

    list_display = ("recorded_at", "merchant", "kind", "object_id", "ledger_seq", "actor")
    list_filter = ("kind", "recorded_at")
    search_fields = ("merchant__name", "actor")
    fields = ("merchant", "kind", "object_id", "rule", "ledger_seq", "recorded_at", "actor")
    readonly_fields = fields
    date_hierarchy = "recorded_at"

    # The rule's fields by their model labels (the same words as the merchant's admin forms).
    LABELS = {
        "points_per_yuan": _("points per yuan"),
        "slug": _("slug"),
        "multiplier": _("multiplier"),
        "category": _("category"),
        "categories": _("categories"),
        "is_green": _("green product"),
        "carbon_saved_g": _("CO₂e saved per unit (g)"),
        "name": _("name"),
        "starts_on": _("starts on"),
        "ends_on": _("ends on"),
        "cap_per_order": _("extra points cap per order"),
        "stackable": _("stackable"),
        "active": _("active"),
    }

    @admin.display(description=_("rule"))
    def rule(self, obj):
        if obj.data is None:
            return _("Deleted")
        shown = []
        for name, value in obj.data.items():
            if isinstance(value, bool):
                value = _("Yes") if value else _("No")
            elif value is None or value == []:
                value = "—"
            elif isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            shown.append(f"{self.LABELS.get(name, name)}: {value}")
        return "; ".join(shown)


class PurchaseLineInline(ReadOnlyTabularInline):
    model = PurchaseLine
    fields = (
        "line_no",
        "product",
        "category",
        "quantity",
        "amount_fen",
        "points",
        "green_points",
        "refunded_quantity",
    )


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = (
        "receipt_no",
        "merchant",
        "store",
        "member",
        "occurred_at",
        "total_fen",
        "points",
        "green_points",
        "source",
    )
    list_filter = ("source", "merchant", "store")
    search_fields = ("receipt_no", "member__member_no")
    date_hierarchy = "occurred_at"
    list_select_related = ("merchant", "store", "member")
    inlines = [PurchaseLineInline]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = (
        "refund_no",
        "purchase",
        "points",
        "points_due",
        "green_points",
        "policy",
        "created_at",
    )
    list_filter = ("policy",)
    search_fields = ("refund_no", "purchase__receipt_no")
    list_select_related = ("purchase",)


# --- Manual adjustments (platform staff) ------------------------------------------------


class AdjustmentForm(forms.Form):
    member_no = forms.CharField(label=_("member number"), max_length=12)
    points = forms.IntegerField(
        label=_("points"), help_text=_("Positive to grant, negative to deduct.")
    )
    reason = forms.CharField(
        label=_("reason"),
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required. Shown in the ledger and to auditors."),
    )

    def clean(self):
        cleaned_data = super().clean()
        member_no = cleaned_data.get("member_no", "").strip()
        if member_no:
            member = Member.objects.filter(member_no=member_no).first()
            if member is None:
                self.add_error("member_no", _("No member has this number."))
            cleaned_data["member"] = member
        if cleaned_data.get("member") and "points" in cleaned_data and "reason" in cleaned_data:
            try:
                cleaned_data["reason"] = adjustment_validate(
                    member=cleaned_data["member"],
                    points=cleaned_data["points"],
                    reason=cleaned_data["reason"],
                )
            except AdjustmentError as refusal:
                raise forms.ValidationError(refusal.message) from refusal
        return cleaned_data


@admin.register(AdjustmentRequest)
class AdjustmentRequestAdmin(PlatformOnlyMixin, admin.ModelAdmin):
    """Requests go through `adjustment_request`; approval and rejection are actions that call
    `adjustment_approve` / `adjustment_reject` (a second user for large adjustments)."""

    list_display = (
        "id",
        "requested_at",
        "member",
        "points",
        "reason",
        "status",
        "requested_by",
        "decided_by",
        "decided_at",
        "transaction",
    )
    list_filter = ("status",)
    search_fields = ("member__member_no", "reason")
    date_hierarchy = "requested_at"
    list_select_related = ("member", "requested_by", "decided_by", "transaction")
    actions = ["approve", "reject"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_approve_permission(self, request):
        return is_platform_user(request.user) and request.user.has_perm(
            "points.approve_adjustmentrequest"
        )

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AdjustmentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                adjustment = adjustment_request(
                    member=form.cleaned_data["member"],
                    points=form.cleaned_data["points"],
                    reason=form.cleaned_data["reason"],
                    requested_by=request.user,
                )
            except AdjustmentError as refusal:
                form.add_error(None, refusal.message)
            else:
                self._report_request(request, adjustment)
                return HttpResponseRedirect(reverse("admin:points_adjustmentrequest_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Adjust a member's points"),
            "opts": self.model._meta,
            "form": form,
            "threshold": settings.ADJUSTMENT_APPROVAL_THRESHOLD,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/points/adjustmentrequest/add.html", context)

    def _report_request(self, request, adjustment):
        if adjustment.status == AdjustmentRequest.Status.APPLIED:
            self.message_user(
                request,
                _("Adjustment #%(id)s applied: %(points)+d points for %(member)s.")
                % {"id": adjustment.pk, "points": adjustment.points, "member": adjustment.member},
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                _(
                    "Adjustment #%(id)s is above %(threshold)s points and waits for a second "
                    "platform-staff user to approve it."
                )
                % {"id": adjustment.pk, "threshold": settings.ADJUSTMENT_APPROVAL_THRESHOLD},
                messages.WARNING,
            )

    def _decide_each(self, request, queryset, service, done_message):
        done = 0
        for adjustment in queryset:
            try:
                service(adjustment)
            except AdjustmentError as refusal:
                self.message_user(request, refusal.message, messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, done_message(done), messages.SUCCESS)

    @admin.action(description=_("Approve and apply selected adjustments"), permissions=["approve"])
    def approve(self, request, queryset):
        self._decide_each(
            request,
            queryset,
            lambda a: adjustment_approve(adjustment=a, approved_by=request.user),
            lambda n: ngettext("%d adjustment applied.", "%d adjustments applied.", n) % n,
        )

    @admin.action(description=_("Reject selected adjustments"), permissions=["approve"])
    def reject(self, request, queryset):
        self._decide_each(
            request,
            queryset,
            lambda a: adjustment_reject(adjustment=a, rejected_by=request.user),
            lambda n: ngettext("%d adjustment rejected.", "%d adjustments rejected.", n) % n,
        )
