from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from activities.models import Activity, Organiser
from points.models import Community, Member


@pytest.fixture
def school(db):
    return Community.objects.create(name="晨光实验小学 Test", kind=Community.Kind.SCHOOL)


@pytest.fixture
def other_community(db):
    return Community.objects.create(name="绿水小区 Test", kind=Community.Kind.RESIDENTIAL)


@pytest.fixture
def organiser_of(db):
    def make(community, username="organiser-t"):
        user = get_user_model().objects.create_user(
            username=username, password="pw-12345-long", is_staff=True
        )
        user.groups.add(Group.objects.get_or_create(name="Activity organisers")[0])
        Organiser.objects.create(user=user, community=community)
        return user

    return make


@pytest.fixture
def platform_staff(db):
    user = get_user_model().objects.create_user(
        username="staff-t", password="pw-12345-long", is_staff=True
    )
    user.groups.add(Group.objects.get_or_create(name="Platform staff")[0])
    return user


@pytest.fixture
def old_member(make_member):
    """A member whose account is older than a day (a day-old one may not check in)."""

    def make(**fields):
        member = make_member(**fields)
        Member.objects.filter(pk=member.pk).update(joined_at=timezone.now() - timedelta(days=30))
        member.refresh_from_db()
        return member

    return make


@pytest.fixture
def make_activity(school, platform_staff):
    def make(*, community=None, points=30, capacity=50, approved=True, starts=None, ends=None):
        now = timezone.now()
        activity = Activity.objects.create(
            community=community or school,
            title="旧书回收日",
            kind=Activity.Kind.RECYCLING,
            place="东门",
            starts_at=starts or now - timedelta(hours=1),
            ends_at=ends or now + timedelta(hours=2),
            points=points,
            co2e_grams=1500,
            capacity=capacity,
        )
        if approved:
            from activities.services import activity_approve

            activity = activity_approve(activity=activity, actor=platform_staff)
        return activity

    return make
