from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from .models import Campaign, Category, Merchant, Product, Store, Terminal


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "points_per_yuan", "cancel_compensation_percent", "active")
    list_filter = ("active",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("name", "merchant", "code", "active")
    list_filter = ("active", "merchant")
    search_fields = ("name", "code", "merchant__name")


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
    list_display = ("name", "store", "key_hint", "active", "created_at", "revoked_at")
    list_filter = ("active", "store__merchant")
    search_fields = ("name", "store__name")
    readonly_fields = ("key_hint", "created_at", "revoked_at")
    fields = ("store", "name", "active", "key_hint", "created_at", "revoked_at")
    actions = ["revoke", "rotate_key"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        from merchants.services.terminals import terminal_rotate_key

        obj.set_key(obj.new_key())  # placeholder hash, replaced at once by a key we can show
        super().save_model(request, obj, form, change)
        self._show_key_once(request, obj, terminal_rotate_key(terminal=obj))

    def _show_key_once(self, request, terminal, raw_key):
        messages.warning(
            request,
            _("API key for %(terminal)s — copy it now, it is shown only once: %(key)s")
            % {"terminal": terminal, "key": raw_key},
        )

    @admin.action(description=_("Revoke the selected terminals' keys"))
    def revoke(self, request, queryset):
        from merchants.services.terminals import terminal_revoke

        for terminal in queryset:
            terminal_revoke(terminal=terminal)
        messages.success(request, _("Revoked %(count)d terminals.") % {"count": queryset.count()})

    @admin.action(description=_("Issue a new key (the old one stops working)"))
    def rotate_key(self, request, queryset):
        from merchants.services.terminals import terminal_rotate_key

        for terminal in queryset:
            self._show_key_once(request, terminal, terminal_rotate_key(terminal=terminal))


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "merchant", "slug", "multiplier")
    list_filter = ("merchant",)
    search_fields = ("name", "slug")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = (
        "sku",
        "name",
        "merchant",
        "category",
        "price_fen",
        "is_green",
        "carbon_saved_g",
        "active",
    )
    list_filter = ("is_green", "active", "merchant", "category")
    search_fields = ("sku", "name")
    autocomplete_fields = ("category",)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "merchant",
        "starts_on",
        "ends_on",
        "multiplier",
        "cap_per_order",
        "stackable",
        "active",
    )
    list_filter = ("active", "stackable", "merchant")
    search_fields = ("name",)
    date_hierarchy = "starts_on"
    filter_horizontal = ("categories",)
