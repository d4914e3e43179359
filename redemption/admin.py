"""Back office for the catalog. Saves and actions call services; there is no cash-out anywhere."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from redemption.models import (
    PriceSchedule,
    Redemption,
    Reward,
    RewardPriceChange,
    Voucher,
    WinBackOffer,
)
from redemption.services.errors import RedemptionError
from redemption.services.redemptions import (
    redemption_cancel_by_merchant,
    redemption_fulfil,
    voucher_use,
)
from redemption.services.rewards import reward_save, reward_set_active


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


def _run_each(modeladmin, request, queryset, service, done_message):
    """Call `service` on each selected row; report successes and each refusal clearly."""
    done = 0
    for obj in queryset:
        try:
            service(obj)
        except RedemptionError as refusal:
            modeladmin.message_user(request, f"{obj}: {refusal.message}", messages.ERROR)
        else:
            done += 1
    if done:
        modeladmin.message_user(request, done_message(done), messages.SUCCESS)


class PriceScheduleInline(admin.TabularInline):
    model = PriceSchedule.rewards.through
    extra = 0
    verbose_name = _("price schedule")
    verbose_name_plural = _("price schedules")


class RewardPriceChangeInline(admin.TabularInline):
    model = RewardPriceChange
    fields = ("changed_at", "points_price", "cash_price_fen", "face_value_fen", "changed_by")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "merchant",
        "kind",
        "points_price",
        "cash_price_fen",
        "face_value_fen",
        "stock",
        "active",
        "active_from",
        "active_until",
    )
    list_filter = ("active", "kind", "merchant")
    search_fields = ("title", "description", "merchant__name")
    list_select_related = ("merchant",)
    readonly_fields = ("created_at", "updated_at")
    inlines = [PriceScheduleInline, RewardPriceChangeInline]
    actions = ["activate", "deactivate"]

    def save_model(self, request, obj, form, change):
        # The form already ran Reward.clean() (value floor included); the service keeps the
        # price history.
        reward_save(reward=obj, actor=_actor(request))

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: redemptions keep pointing at the reward

    @admin.action(description=_("Activate selected rewards"))
    def activate(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda r: reward_set_active(reward=r, active=True),
            lambda n: ngettext("%d reward activated.", "%d rewards activated.", n) % n,
        )

    @admin.action(description=_("Deactivate selected rewards"))
    def deactivate(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda r: reward_set_active(reward=r, active=False),
            lambda n: ngettext("%d reward deactivated.", "%d rewards deactivated.", n) % n,
        )


@admin.register(PriceSchedule)
class PriceScheduleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "merchant",
        "kind",
        "percent_off",
        "starts_on",
        "ends_on",
        "day_of_month",
        "active",
    )
    list_filter = ("active", "kind", "merchant")
    search_fields = ("name", "merchant__name")
    list_select_related = ("merchant",)
    filter_horizontal = ("rewards", "categories")


class VoucherInline(admin.TabularInline):
    model = Voucher
    fields = ("code", "issued_at", "valid_until", "used_at", "used_by", "cancelled_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Redemption)
class RedemptionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "member",
        "reward_title",
        "quantity",
        "points_total",
        "cash_due_fen",
        "schedule_name",
        "status",
        "merchant",
    )
    list_filter = ("status", "merchant", "cancelled_by")
    search_fields = ("reward_title", "member__member_no", "vouchers__code", "idempotency_key")
    date_hierarchy = "created_at"
    list_select_related = ("member", "merchant")
    inlines = [VoucherInline]
    actions = ["mark_fulfilled", "merchant_cancel"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Mark selected redemptions fulfilled"))
    def mark_fulfilled(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda r: redemption_fulfil(redemption=r, actor=_actor(request)),
            lambda n: ngettext("%d redemption fulfilled.", "%d redemptions fulfilled.", n) % n,
        )

    @admin.action(description=_("Cancel selected redemptions as the merchant (with compensation)"))
    def merchant_cancel(self, request, queryset):
        reason = str(_("The merchant could not deliver this reward."))
        _run_each(
            self,
            request,
            queryset,
            lambda r: redemption_cancel_by_merchant(
                redemption=r, reason=reason, actor=_actor(request)
            ),
            lambda n: (
                ngettext(
                    "%d redemption cancelled; points and compensation credited.",
                    "%d redemptions cancelled; points and compensation credited.",
                    n,
                )
                % n
            ),
        )


@admin.register(Voucher)
class VoucherAdmin(admin.ModelAdmin):
    list_display = ("code", "redemption", "issued_at", "valid_until", "used_at", "cancelled_at")
    list_filter = (("used_at", admin.EmptyFieldListFilter), "redemption__merchant")
    search_fields = ("code", "redemption__member__member_no")
    list_select_related = ("redemption",)
    actions = ["mark_used"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Mark selected vouchers used"))
    def mark_used(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda v: voucher_use(voucher=v, actor=_actor(request)),
            lambda n: ngettext("%d voucher marked used.", "%d vouchers marked used.", n) % n,
        )


@admin.register(WinBackOffer)
class WinBackOfferAdmin(admin.ModelAdmin):
    """Read-only: offers are made by `send_winback_offers` and used by redemptions."""

    list_display = (
        "id",
        "member",
        "reward",
        "points_price",
        "list_points_price",
        "valid_until",
        "redemption",
    )
    list_select_related = ("member", "reward", "redemption")
    search_fields = ("member__member_no", "reward__title")
    list_filter = ("valid_until",)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
