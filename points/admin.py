from django.contrib import admin

from .models import (
    Account,
    Community,
    LedgerEntry,
    LedgerSeal,
    LedgerTransaction,
    LotAllocation,
    Member,
    PointLot,
    Purchase,
    PurchaseLine,
    Refund,
)


@admin.register(Community)
class CommunityAdmin(admin.ModelAdmin):
    list_display = ("name", "kind")
    list_filter = ("kind",)
    search_fields = ("name",)


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("member_no", "user", "community", "joined_at", "last_activity_at")
    list_filter = ("community",)
    search_fields = ("member_no", "user__username")
    date_hierarchy = "joined_at"
    readonly_fields = ("member_no", "joined_at", "last_activity_at")
    raw_id_fields = ("user",)

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ledger rows are written only by the ledger service: admin shows, never edits."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ("account", "points")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "member", "merchant", "reference", "actor")
    list_filter = ("kind", "merchant")
    search_fields = ("idempotency_key", "reference", "member__member_no")
    date_hierarchy = "created_at"
    list_select_related = ("member", "merchant")
    inlines = [LedgerEntryInline]


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "kind", "member", "merchant", "balance", "version")
    list_filter = ("kind", "merchant")
    search_fields = ("code", "member__member_no")
    list_select_related = ("member", "merchant")


@admin.register(PointLot)
class PointLotAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "points", "remaining", "expires_at", "created_at")
    list_filter = ("account__kind",)
    search_fields = ("account__code",)
    list_select_related = ("account",)


@admin.register(LotAllocation)
class LotAllocationAdmin(ReadOnlyAdmin):
    list_display = ("id", "lot", "transaction", "points")
    list_select_related = ("lot", "transaction")


@admin.register(LedgerSeal)
class LedgerSealAdmin(ReadOnlyAdmin):
    list_display = ("id", "transaction", "hash", "sealed_at")


class PurchaseLineInline(admin.TabularInline):
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
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


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
    list_filter = ("source", "merchant")
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
