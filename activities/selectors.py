"""Reads of green activities."""

from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone

from activities.models import Activity, CheckIn, Organiser
from points.models import Community, Member


def organiser_community(user) -> Community | None:
    """The community `user` organises activities for, or None (cached per request)."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return None
    if not hasattr(user, "_jifen_organiser_community"):
        organiser = Organiser.objects.select_related("community").filter(user=user).first()
        user._jifen_organiser_community = organiser.community if organiser else None
    return user._jifen_organiser_community


def activities_for(member: Member | None) -> QuerySet[Activity]:
    """Approved activities not yet over, the member's own community first."""
    queryset = Activity.objects.filter(
        status=Activity.Status.APPROVED, ends_at__gte=timezone.now()
    ).select_related("community")
    community_id = member.community_id if member else None
    return queryset.annotate(
        own=Case(
            When(community_id=community_id, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
    ).order_by("own", "starts_at", "pk")


def check_ins_of(member: Member) -> QuerySet[CheckIn]:
    return CheckIn.objects.filter(member=member).select_related("activity").order_by("-created_at")
