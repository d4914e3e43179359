"""Merchant scoping of the back office: a merchant user sees and changes only its own rows.

Who sees what (`admin_scope`): a superuser everything; a user linked to a merchant by a
`MerchantMembership` only that merchant's rows (even if also in another group); a member of
the "Platform staff" group everything; any other staff user nothing.

`MerchantScopedAdmin` applies that to a ModelAdmin: its queryset, the choices of its foreign
keys and many-to-many fields, its list filters, the merchant of new rows, and a 404 (never a
403 or a redirect, so ids cannot be probed) for another merchant's object by URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path, unquote
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from merchants.admin_money import YuanAdminMixin
from merchants.models import Merchant, MerchantMembership

MERCHANT_STAFF = "Merchant staff"
PLATFORM_STAFF = "Platform staff"

# How rows of a model reach their merchant, for models without a `merchant` foreign key.
MERCHANT_PATHS = {
    "merchants.merchant": "pk",
    "merchants.terminal": "store__merchant",
    "points.refund": "purchase__merchant",
    "points.purchaseline": "purchase__merchant",
    "redemption.voucher": "redemption__merchant",
    "redemption.rewardpricechange": "reward__merchant",
    "redemption.winbackoffer": "reward__merchant",
    "redemption.priceschedule_rewards": "priceschedule__merchant",
}


@dataclass(frozen=True)
class AdminScope:
    """`everything` for platform staff and superusers; else only `merchant`'s rows (or none)."""

    everything: bool = False
    merchant: Merchant | None = None

    @property
    def is_merchant_user(self) -> bool:
        return not self.everything and self.merchant is not None


def admin_scope(user) -> AdminScope:
    """The rows `user` may see in the back office (cached on the user for the request)."""
    cached = getattr(user, "_jifen_admin_scope", None)
    if cached is not None:
        return cached
    if not (user.is_authenticated and user.is_active):
        scope = AdminScope()
    elif user.is_superuser:
        scope = AdminScope(everything=True)
    else:
        membership = MerchantMembership.objects.select_related("merchant").filter(user=user).first()
        if membership is not None:
            scope = AdminScope(merchant=membership.merchant)
        else:
            scope = AdminScope(everything=user.groups.filter(name=PLATFORM_STAFF).exists())
    user._jifen_admin_scope = scope
    return scope


def is_platform_user(user) -> bool:
    return admin_scope(user).everything


def merchant_path_for(model: type[Model]) -> str | None:
    """The lookup from `model` to its merchant, or None when its rows belong to no merchant."""
    label = model._meta.label_lower
    if label in MERCHANT_PATHS:
        return MERCHANT_PATHS[label]
    try:
        field = model._meta.get_field("merchant")
    except FieldDoesNotExist:
        return None
    if field.is_relation and field.related_model is Merchant:
        return "merchant"
    return None


def scope_queryset(queryset: QuerySet, user) -> QuerySet:
    """`queryset` limited to what `user` may see; rows of no merchant are platform-only."""
    scope = admin_scope(user)
    if scope.everything:
        return queryset
    path = merchant_path_for(queryset.model)
    if scope.merchant is None or path is None:
        return queryset.none()
    # By primary key: `pk=<Merchant>` (the merchant's own row) is a TypeError in Django 5.
    return queryset.filter(**{path: scope.merchant.pk})


def _reaches_merchant(model, lookup: str) -> bool:
    try:
        fields = get_fields_from_path(model, lookup)
    except Exception:  # not a field path (a callable filter's parameter, say)
        return False
    return bool(fields) and getattr(fields[-1], "related_model", None) is Merchant


def _scoped_form(form_class, merchant: Merchant | None):
    """The admin form, with the merchant set before validation and related rows checked."""

    class MerchantScopedForm(form_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # Set before validation, so model clean() and unique constraints see it.
            if merchant is not None and _has_merchant_fk(self.instance):
                if self.instance.merchant_id is None:
                    self.instance.merchant = merchant

        def _get_validation_exclusions(self):
            exclusions = super()._get_validation_exclusions()
            if merchant is not None and _has_merchant_fk(self.instance):
                exclusions.discard("merchant")
            return exclusions

        def clean(self):
            cleaned_data = super().clean()
            owner = cleaned_data.get("merchant")
            if owner is None and _has_merchant_fk(self.instance) and self.instance.merchant_id:
                owner = self.instance.merchant
            # No merchant chosen (a required-field error is already on the form): nothing to check.
            if owner is None:
                return cleaned_data
            for field in self._meta.model._meta.many_to_many:
                chosen = cleaned_data.get(field.name)
                path = merchant_path_for(field.related_model)
                if chosen is None or path is None or not hasattr(chosen, "exclude"):
                    continue
                if chosen.exclude(**{path: owner}).exists():
                    self.add_error(
                        field.name,
                        _("Some of the chosen %(things)s belong to another merchant.")
                        % {"things": field.related_model._meta.verbose_name_plural},
                    )
            return cleaned_data

    MerchantScopedForm.__name__ = form_class.__name__
    return MerchantScopedForm


def _has_merchant_fk(instance) -> bool:
    return merchant_path_for(type(instance)) == "merchant"


class ScopedChoicesMixin:
    """Foreign-key and many-to-many choices limited to the user's merchant (admins, inlines)."""

    def get_field_queryset(self, db, db_field, request):
        queryset = super().get_field_queryset(db, db_field, request)
        if queryset is None:
            queryset = db_field.remote_field.model._default_manager.using(db).all()
        return scope_queryset(queryset, request.user)


class MerchantScopedAdmin(YuanAdminMixin, ScopedChoicesMixin, admin.ModelAdmin):
    """A ModelAdmin whose rows, choices, filters and URLs are limited to the user's merchant.

    Set `keeps_ledger_history = True` (and override `has_ledger_history`) on models whose
    rows ledger history points at: they lose the bulk delete action, and an object with
    history cannot be deleted at all.
    """

    keeps_ledger_history = False

    def scope(self, request) -> AdminScope:
        return admin_scope(request.user)

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def has_ledger_history(self, obj) -> bool:
        return self.keeps_ledger_history

    # --- another merchant's object by URL: 404, like an id that does not exist -----------

    def _404_unless_visible(self, request, object_id):
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404(_("Not found."))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._404_unless_visible(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._404_unless_visible(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._404_unless_visible(request, object_id)
        return super().history_view(request, object_id, extra_context)

    # --- forms: the merchant is the user's own and shown read-only -----------------------

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if (
            self.scope(request).is_merchant_user
            and merchant_path_for(self.model) == "merchant"
            and "merchant" not in readonly
        ):
            readonly.append("merchant")
        return readonly

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        scope = self.scope(request)
        return _scoped_form(form_class, scope.merchant if scope.is_merchant_user else None)

    def assign_merchant(self, request, obj) -> None:
        """A merchant user's new (or changed) row is always its own merchant's."""
        scope = self.scope(request)
        if scope.is_merchant_user and _has_merchant_fk(obj):
            obj.merchant = scope.merchant

    def save_model(self, request, obj, form, change):
        self.assign_merchant(request, obj)
        super().save_model(request, obj, form, change)

    # --- list filters offer only the user's own values -----------------------------------

    def get_list_filter(self, request):
        merchant_user = self.scope(request).is_merchant_user
        filters = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str):
                if merchant_user and _reaches_merchant(self.model, entry):
                    continue  # one merchant: nothing to filter
                fields = get_fields_from_path(self.model, entry)
                if fields and fields[-1].is_relation:
                    entry = (entry, admin.RelatedOnlyFieldListFilter)
            filters.append(entry)
        return filters

    # --- no deleting what ledger history points at ---------------------------------------

    def has_delete_permission(self, request, obj=None):
        if obj is not None and self.has_ledger_history(obj):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.keeps_ledger_history:
            actions.pop("delete_selected", None)
        return actions


class ReadOnlyTabularInline(YuanAdminMixin, admin.TabularInline):
    """An inline that shows its rows and never adds, edits or deletes them (ledger rows,
    price history, vouchers: each is written only by its service). Set `fields`."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False
