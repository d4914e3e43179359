"""Demo: the organiser of 晨光实验小学 and an approved "旧书回收日" running all of today."""

from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from activities.models import Activity, Organiser
from points.models import Community, Member

ORGANISERS = "Activity organisers"


def seed_demo(context: dict) -> None:
    school = Community.objects.get(name="晨光实验小学")
    user_model = get_user_model()
    organiser = user_model.objects.filter(username="organiser").first()
    if organiser is None:
        organiser = user_model.objects.create_user(
            username="organiser",
            password=context["password"],
            email="organiser@example.com",
            is_staff=True,
        )
    organisers = Group.objects.get_or_create(name=ORGANISERS)[0]
    # The roles' rights come from migration activities/0002; a flushed database (tests)
    # keeps the permissions but not the groups' links to them, so grant them again.
    activity_perms = Permission.objects.filter(content_type__app_label="activities")
    organisers.permissions.add(
        *activity_perms.filter(
            codename__in=["view_activity", "add_activity", "change_activity", "view_checkin"]
        )
    )
    Group.objects.get_or_create(name="Platform staff")[0].permissions.add(
        *activity_perms.exclude(codename__startswith="delete_")
    )
    organiser.groups.add(organisers)
    Organiser.objects.get_or_create(user=organiser, defaults={"community": school})
    # Demo members joined months ago (their history starts 85 days back): old enough to
    # check in, which a day-old account may not.
    Member.objects.filter(
        user__username__in=["demo", "xiaoming", "xiaohong"],
        joined_at__gt=context["now"] - timedelta(days=1),
    ).update(joined_at=context["now"] - timedelta(days=90))
    today = timezone.localdate(context["now"])
    tz = timezone.get_current_timezone()
    starts = timezone.make_aware(datetime.combine(today, time.min), tz)
    ends = timezone.make_aware(datetime.combine(today, time(23, 59, 59)), tz)
    if not Activity.objects.filter(title="旧书回收日", starts_at=starts).exists():
        staff = user_model.objects.filter(username="staff").first()
        Activity.objects.create(
            community=school,
            title="旧书回收日",
            kind=Activity.Kind.RECYCLING,
            description="把读完的课本和旧书带到学校门口，由志愿者分拣后送往回收站。",
            place="晨光实验小学 东门",
            starts_at=starts,
            ends_at=ends,
            points=20,
            co2e_grams=1500,
            co2e_source="约 1 千克废纸回收，按每千克减排 1.5 千克二氧化碳当量估算",
            capacity=300,
            status=Activity.Status.APPROVED,
            approved_points=20,
            approved_by=staff,
            approved_at=context["now"],
            created_by=organiser,
        )
    context["messages"].append(
        "Activity organiser: organiser / demo12345 (晨光实验小学); "
        "today's activity 旧书回收日 at /activities/."
    )
