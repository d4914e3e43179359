"""Admin shows money in yuan (¥120.60), never fen: every `*_fen` model field of an admin or
inline using `YuanAdminMixin` is displayed through `merchants.money.format_yuan` (lists,
read-only fields, read-only inlines) and edited as yuan (`YuanFormField`)."""

from __future__ import annotations

import types

from django.core.exceptions import FieldDoesNotExist

from merchants.money import YuanFormField, format_yuan, unit_free_label

SUFFIX = "_fen"


def _is_money(model, name) -> bool:
    if not isinstance(name, str) or not name.endswith(SUFFIX):
        return False
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def _column(model, name):
    field = model._meta.get_field(name)

    def show(obj):
        return format_yuan(getattr(obj, name))

    show.short_description = unit_free_label(field.verbose_name)
    show.admin_order_field = name
    return show


class YuanAdminMixin:
    """Swap every `*_fen` field shown read-only for a "¥12.80" column of the same label.

    The swap wraps the admin's outermost get_list_display / get_readonly_fields /
    get_fields (whatever subclasses add), so the form never sees a name it does not know."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.model._meta.concrete_fields:
            if field.name.endswith(SUFFIX):
                setattr(self, field.name + "_yuan", _column(self.model, field.name))
        list_display, readonly, fields = (
            self.get_list_display if hasattr(self, "get_list_display") else None,
            self.get_readonly_fields,
            self.get_fields,
        )
        if list_display is not None:

            def list_display_in_yuan(admin, request):
                return admin._yuan_names(list_display(request))

            self.get_list_display = types.MethodType(list_display_in_yuan, self)

        def readonly_in_yuan(admin, request, obj=None):
            return admin._yuan_names(readonly(request, obj))

        def fields_in_yuan(admin, request, obj=None):
            shown_readonly = set(readonly(request, obj))
            # Someone who may only view an object sees every field read-only.
            view_only = obj is not None and not self.has_change_permission(request, obj)
            return [
                f"{name}_yuan"
                if (view_only or name in shown_readonly) and _is_money(self.model, name)
                else name
                for name in fields(request, obj)
            ]

        self.get_readonly_fields = types.MethodType(readonly_in_yuan, self)
        self.get_fields = types.MethodType(fields_in_yuan, self)

    def _yuan_names(self, names):
        return [f"{name}_yuan" if _is_money(self.model, name) else name for name in names]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name.endswith(SUFFIX) and db_field.editable and not db_field.choices:
            return YuanFormField(
                label=unit_free_label(db_field.verbose_name) + " (¥)",
                required=not db_field.blank and db_field.default is None,
                help_text=db_field.help_text,
                initial=db_field.default if isinstance(db_field.default, int) else None,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)
