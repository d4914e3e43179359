"""Activities in the back office: organisers see and edit only their community's
activities (another's is a 404), platform staff see all and approve them."""

from django.contrib import admin, messages
from django.http import Http404
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from activities.forms import ActivityForm
from activities.models import Activity, CheckIn, CheckInRefusal, Organiser
from activities.selectors import organiser_community
from activities.services import ActivityError, activity_approve, activity_points_changed
from merchants.admin_scoping import is_platform_user


class CommunityScopedAdmin(admin.ModelAdmin):
    """Rows of the organiser's own community only; platform staff see everything."""

    community_path = "community"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if is_platform_user(request.user):
            return queryset
        community = organiser_community(request.user)
        if community is None:
            return queryset.none()
        return queryset.filter(**{self.community_path: community})

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None and self.model.objects.filter(pk=object_id).exists():
            raise Http404  # another community's row: the same answer as a missing one
        return obj


@admin.register(Activity)
class ActivityAdmin(CommunityScopedAdmin):
    form = ActivityForm
    list_display = [
        "title",
        "community",
        "kind",
        "starts_at",
        "ends_at",
        "points",
        "status",
        "check_in_count",
        "confirmed_at",
        "pages",
    ]
    list_filter = ["status", "kind", "community"]
    search_fields = ["title", "place", "community__name"]
    date_hierarchy = "starts_at"
    actions = ["approve"]
    readonly_fields = ["status", "approved_points", "approved_by", "approved_at", "confirmed_at"]

    def get_fields(self, request, obj=None):
        fields = list(ActivityForm.Meta.fields)
        if is_platform_user(request.user):
            fields.insert(0, "community")
        return fields + ["status", "approved_points", "approved_by", "approved_at", "confirmed_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["fields"] = [
            f for f in self.get_fields(request, obj) if f not in self.readonly_fields
        ]
        return super().get_form(request, obj, change, **kwargs)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not is_platform_user(request.user):
            actions.pop("approve", None)
        return actions

    def has_add_permission(self, request):
        if not (is_platform_user(request.user) or organiser_community(request.user)):
            return False
        return super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.confirmed_at is not None:
            return False  # its points are posted: the activity is history now
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # check-ins and ledger postings point at activities

    def save_model(self, request, obj, form, change):
        if not is_platform_user(request.user):
            obj.community = organiser_community(request.user)
        if not change:
            obj.created_by = request.user
        activity_points_changed(activity=obj)
        super().save_model(request, obj, form, change)

    @admin.display(description=_("check-ins"))
    def check_in_count(self, obj):
        return obj.check_ins.count()

    @admin.display(description=_("pages"))
    def pages(self, obj):
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            reverse("activity_code", args=[obj.pk]),
            _("check-in code"),
            reverse("activity_attendance", args=[obj.pk]),
            _("attendance"),
        )

    @admin.action(description=_("Approve the selected activities"))
    def approve(self, request, queryset):
        approved = 0
        for activity in queryset:
            try:
                activity_approve(activity=activity, actor=request.user)
                approved += 1
            except ActivityError as error:
                self.message_user(request, f"{activity}: {error.message}", messages.ERROR)
        if approved:
            self.message_user(request, _("%(n)s activities approved.") % {"n": approved})


@admin.register(CheckIn)
class CheckInAdmin(CommunityScopedAdmin):
    community_path = "activity__community"
    list_display = ["activity", "member", "created_at", "present", "points_awarded"]
    list_filter = ["present", "activity__community"]
    search_fields = ["activity__title", "member__member_no"]
    list_select_related = ["activity", "member"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CheckInRefusal)
class CheckInRefusalAdmin(CommunityScopedAdmin):
    community_path = "activity__community"
    list_display = ["created_at", "activity", "member", "reason"]
    list_filter = ["reason"]
    search_fields = ["activity__title", "member__member_no"]
    list_select_related = ["activity", "member"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Organiser)
class OrganiserAdmin(admin.ModelAdmin):
    """Platform staff grant the organiser role (the user also needs the group's rights)."""

    list_display = ["user", "community", "granted_at"]
    list_filter = ["community"]
    search_fields = ["user__username", "community__name"]
    autocomplete_fields = ["user"]

    def has_module_permission(self, request):
        return is_platform_user(request.user)

    def has_view_permission(self, request, obj=None):
        return is_platform_user(request.user)

    def has_add_permission(self, request):
        return is_platform_user(request.user)

    def has_change_permission(self, request, obj=None):
        return is_platform_user(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_platform_user(request.user)
