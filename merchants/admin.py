"""Back office for merchants' own data. Every admin here is merchant-scoped
(`merchants.admin_scoping`): a merchant user sees, changes and chooses only its own rows."""

from django.apps import apps
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from .admin_scoping import MerchantScopedAdmin
from .models import (
    Campaign,
    Category,
    Merchant,
    MerchantMembership,
    Product,
    Store,
    Terminal,
    TerminalKeyEvent,
)


def _purchase_lines():
    # points sits to the right of merchants: looked up by name, never imported.
    return apps.get_model("points", "PurchaseLine").objects


@admin.register(Merchant)
class MerchantAdmin(MerchantScopedAdmin):
    list_display = ("name", "slug", "points_per_yuan", "cancel_compensation_percent", "active")
    list_filter = ("active",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    keeps_ledger_history = True

    def has_ledger_history(self, obj):
        return obj.ledger_transactions.exists() or obj.purchases.exists()


@admin.register(MerchantMembership)
class MerchantMembershipAdmin(MerchantScopedAdmin):
    list_display = ("user", "merchant")
    list_filter = ("merchant",)
    search_fields = ("user__username", "merchant__name")
    raw_id_fields = ("user",)
    list_select_related = ("user", "merchant")


@admin.register(Store)
class StoreAdmin(MerchantScopedAdmin):
    list_display = ("name", "merchant", "code", "address", "opening_hours", "active")
    list_filter = ("active", "merchant")
    search_fields = ("name", "code", "address", "merchant__name")
    list_select_related = ("merchant",)
    keeps_ledger_history = True

    def has_ledger_history(self, obj):
        return obj.purchases.exists()


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


@admin.register(Terminal)
class TerminalAdmin(MerchantScopedAdmin):
    list_display = ("name", "store", "key_hint", "active", "created_at", "revoked_at")
    list_filter = ("active", "store__merchant", "store")
    search_fields = ("name", "store__name")
    readonly_fields = ("key_hint", "created_at", "revoked_at", "key_history")
    fields = ("store", "name", "active", "key_hint", "created_at", "revoked_at", "key_history")
    list_select_related = ("store__merchant",)
    autocomplete_fields = ("store",)
    actions = ["revoke", "rotate_key"]
    keeps_ledger_history = True

    def has_ledger_history(self, obj):
        return obj.purchases.exists()

    @admin.display(description=_("Key history"))
    def key_history(self, obj):
        """Every key event of the terminal: what, by whom, when (newest first)."""
        if obj is None or obj.pk is None:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    event.get_kind_display(),
                    event.actor,
                    event.key_hint,
                    date_format(timezone.localtime(event.at), "Y-m-d H:i:s"),
                )
                for event in obj.key_events.all()
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            _("key event"),
            _("done by"),
            _("key starts with"),
            _("time of event"),
            rows,
        )

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and obj.is_revoked:
            # Revoking is final: the form offers no way back (the database refuses one too).
            return (*readonly, "store", "name", "active")
        return readonly

    def save_model(self, request, obj, form, change):
        if change:
            if obj.is_revoked:
                obj.active = False
            return super().save_model(request, obj, form, change)
        raw_key = obj.new_key()
        obj.set_key(raw_key)
        super().save_model(request, obj, form, change)
        TerminalKeyEvent.objects.create(
            terminal=obj,
            kind=TerminalKeyEvent.Kind.CREATED,
            actor=_actor(request),
            key_hint=obj.key_hint,
        )
        self._show_key_once(request, obj, raw_key)

    def _show_key_once(self, request, terminal, raw_key):
        # The key is selectable text (select-all on click) and, with JavaScript, one button
        # copies it; it is never stored, so this message is the only place it appears.
        messages.warning(
            request,
            format_html(
                "{} <code class='jf-terminal-key' style='user-select:all'>{}</code> "
                "<button type='button' class='button' "
                'onclick="navigator.clipboard&&navigator.clipboard.writeText('
                "this.previousElementSibling.textContent).then(()=>{{this.textContent="
                "this.dataset.done}})\" data-done='{}'>{}</button>",
                _("API key for %(terminal)s — copy it now, it is shown only once:")
                % {"terminal": terminal},
                raw_key,
                _("Copied"),
                _("Copy"),
            ),
        )

    @admin.action(description=_("Revoke the selected terminals' keys"), permissions=["change"])
    def revoke(self, request, queryset):
        from merchants.services.terminals import terminal_revoke

        for terminal in queryset:
            terminal_revoke(terminal=terminal, actor=_actor(request))
        messages.success(request, _("Revoked %(count)d terminals.") % {"count": queryset.count()})

    @admin.action(
        description=_("Issue a new key (the old one stops working)"), permissions=["change"]
    )
    def rotate_key(self, request, queryset):
        from merchants.services.terminals import TerminalRevoked, terminal_rotate_key

        for terminal in queryset:
            try:
                raw_key = terminal_rotate_key(terminal=terminal, actor=_actor(request))
            except TerminalRevoked as refused:
                messages.error(request, refused.message)
                continue
            self._show_key_once(request, terminal, raw_key)


@admin.register(Category)
class CategoryAdmin(MerchantScopedAdmin):
    list_display = ("name", "merchant", "slug", "multiplier")
    list_filter = ("merchant",)
    search_fields = ("name", "slug")
    list_select_related = ("merchant",)
    keeps_ledger_history = True

    def has_ledger_history(self, obj):
        return _purchase_lines().filter(category=obj).exists()


@admin.register(Product)
class ProductAdmin(MerchantScopedAdmin):
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
    list_select_related = ("merchant", "category")
    keeps_ledger_history = True

    def has_ledger_history(self, obj):
        return _purchase_lines().filter(product=obj).exists()


@admin.register(Campaign)
class CampaignAdmin(MerchantScopedAdmin):
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
    list_select_related = ("merchant",)
