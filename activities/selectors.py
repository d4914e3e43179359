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


def activity_participation(members_filter, start, end) -> list[dict]:
    """Confirmed attendance of the members matched by `members_filter` (a Q on `member`) at
    activities confirmed in [start, end): per activity, its points posted and CO₂e saved."""
    from django.db.models import Count, Sum

    rows = (
        CheckIn.objects.filter(
            members_filter,
            present=True,
            activity__confirmed_at__gte=start,
            activity__confirmed_at__lt=end,
        )
        .values(
            "activity_id",
            "activity__title",
            "activity__kind",
            "activity__ends_at",
            "activity__co2e_grams",
            "activity__co2e_source",
            "activity__community__name",
        )
        .annotate(participants=Count("pk"), points=Sum("points_awarded"))
        .order_by("activity__ends_at", "activity_id")
    )
    kinds = dict(Activity.Kind.choices)
    return [
        {
            "title": row["activity__title"],
            "kind": kinds.get(row["activity__kind"], row["activity__kind"]),
            "date": row["activity__ends_at"],
            "community": row["activity__community__name"],
            "participants": row["participants"],
            "points": row["points"] or 0,
            "carbon_g": row["participants"] * row["activity__co2e_grams"],
            "kg": round(row["participants"] * row["activity__co2e_grams"] / 1000, 1),
            "source": row["activity__co2e_source"],
        }
        for row in rows
    ]
