"""Member and organiser pages: scoping, refusals as form errors, never a 500."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from activities.models import Activity, CheckIn
from points import dynamic_code

pytestmark = pytest.mark.django_db


def test_the_member_list_shows_their_community_first(
    client, make_activity, other_community, old_member, school
):
    theirs = make_activity()
    others = make_activity(community=other_community)
    Activity.objects.filter(pk=others.pk).update(
        title="社区节能周", starts_at=theirs.starts_at - timedelta(minutes=5)
    )
    member = old_member(community=school)
    client.force_login(member.user)
    page = client.get("/activities/").content.decode()
    assert page.index("旧书回收日") < page.index("社区节能周")


def test_check_in_page_records_the_member_and_sets_a_device_cookie(
    client, make_activity, old_member
):
    activity = make_activity()
    member = old_member()
    client.force_login(member.user)
    code = dynamic_code.code_now(activity.checkin_secret)
    page = client.get(f"/activities/{activity.pk}/check-in/?code={code}")
    assert f'value="{code}"' in page.content.decode()
    device = page.cookies["jf_device"].value
    assert len(device) == 32
    response = client.post(f"/activities/{activity.pk}/check-in/", {"code": code})
    assert response.status_code == 200
    check_in = CheckIn.objects.get(activity=activity, member=member)
    assert check_in.device == hashlib.sha256(device.encode()).hexdigest()


@pytest.mark.parametrize(
    "code",
    ["", "12", "abcdef", "1" * 10_000, "１２３４５６"],
    ids=["missing", "short", "letters", "huge", "fullwidth"],
)
def test_a_bad_code_is_a_chinese_form_error_and_writes_nothing(
    client, make_activity, old_member, code
):
    activity = make_activity()
    client.force_login(old_member().user)
    response = client.post(
        f"/activities/{activity.pk}/check-in/", {"code": code}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.status_code == 400
    assert (
        "6 位" in response.content.decode()
        or "验证码" in response.content.decode()
        or "签到码" in response.content.decode()
    )
    assert not CheckIn.objects.exists()


def test_a_non_utf8_body_and_a_huge_id_are_not_errors(client, make_activity, old_member):
    activity = make_activity()
    client.force_login(old_member().user)
    response = client.post(
        f"/activities/{activity.pk}/check-in/",
        b"code=%FF%FE%FD",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert client.get("/activities/99999999999999999999999/check-in/").status_code == 404
    assert client.get("/activities/0/attendance/").status_code in (302, 404)


def test_an_organiser_gets_404_for_another_communitys_activity(
    client, make_activity, other_community, organiser_of, school
):
    theirs = make_activity(community=other_community)
    organiser = organiser_of(school)
    client.force_login(organiser)
    for url in (
        f"/activities/{theirs.pk}/code/",
        f"/activities/{theirs.pk}/attendance/",
        f"/admin/activities/activity/{theirs.pk}/change/",
        f"/admin/activities/checkin/?activity__id__exact={theirs.pk}",
    ):
        response = client.get(url)
        assert response.status_code in (404, 200), url
        if response.status_code == 200:  # a list: it simply does not contain the row
            assert "旧书回收日" not in response.content.decode()
    own = make_activity()
    assert client.get(f"/activities/{own.pk}/code/").status_code == 200
    assert client.get(f"/admin/activities/activity/{own.pk}/change/").status_code == 200


def test_a_member_cannot_open_the_organiser_pages(client, make_activity, old_member):
    activity = make_activity()
    client.force_login(old_member().user)
    assert client.get(f"/activities/{activity.pk}/code/").status_code == 404
    assert client.post(f"/activities/{activity.pk}/attendance/").status_code == 404


def _form(**overrides):
    now = timezone.localtime()
    data = {
        "title": "节能挑战",
        "kind": "energy",
        "description": "",
        "place": "社区中心",
        "starts_at_0": (now + timedelta(days=1)).strftime("%Y-%m-%d"),
        "starts_at_1": "09:00:00",
        "ends_at_0": (now + timedelta(days=1)).strftime("%Y-%m-%d"),
        "ends_at_1": "11:00:00",
        "points": "20",
        "co2e_grams": "500",
        "co2e_source": "估算",
        "capacity": "40",
    }
    data.update(overrides)
    return data


def test_an_organiser_creates_a_pending_activity_in_their_own_community(
    client, organiser_of, school, other_community
):
    client.force_login(organiser_of(school))
    response = client.post("/admin/activities/activity/add/", _form())
    assert response.status_code == 302, response.content.decode()[:2000]
    activity = Activity.objects.get()
    assert (activity.community, activity.status) == (school, Activity.Status.PENDING)


@pytest.mark.parametrize(
    "overrides",
    [
        {"points": "0"},
        {"points": "-5"},
        {"points": "101"},
        {"points": "9" * 30},
        {"capacity": "0"},
        {"capacity": "-1"},
        {"ends_at_1": "08:00:00"},
        {"starts_at_0": "2020-01-01", "ends_at_0": "2020-01-01"},
        {"title": ""},
        {"starts_at_0": "9999-99-99"},
    ],
    ids=[
        "zero",
        "negative",
        "above-cap",
        "huge",
        "capacity-0",
        "capacity-negative",
        "ends-first",
        "past",
        "no-title",
        "bad-date",
    ],
)
def test_bad_activity_input_is_refused_and_writes_nothing(client, organiser_of, school, overrides):
    client.force_login(organiser_of(school))
    response = client.post("/admin/activities/activity/add/", _form(**overrides))
    assert response.status_code == 200
    assert "errornote" in response.content.decode() or "errorlist" in response.content.decode()
    assert not Activity.objects.exists()


def test_only_platform_staff_can_approve(
    client, organiser_of, school, platform_staff, make_activity
):
    activity = make_activity(approved=False)
    client.force_login(organiser_of(school))
    client.post(
        "/admin/activities/activity/", {"action": "approve", "_selected_action": [activity.pk]}
    )
    activity.refresh_from_db()
    assert activity.status == Activity.Status.PENDING
    client.force_login(platform_staff)
    client.post(
        "/admin/activities/activity/", {"action": "approve", "_selected_action": [activity.pk]}
    )
    activity.refresh_from_db()
    assert (activity.status, activity.approved_points) == (
        Activity.Status.APPROVED,
        activity.points,
    )


def test_refused_check_ins_show_on_the_staff_risk_page(
    client, make_activity, old_member, platform_staff, settings
):
    settings.RISK_THRESHOLDS = {**settings.RISK_THRESHOLDS, "activity_refusals": 2}
    activity = make_activity()
    member = old_member()
    client.force_login(member.user)
    for _ in range(3):
        client.post(f"/activities/{activity.pk}/check-in/", {"code": "abcdef"})
        client.post(f"/activities/{activity.pk}/check-in/", {"code": "000001"})
    client.force_login(platform_staff)
    page = client.get("/staff/risk/").content.decode()
    table = page[page.index('id="risk-activities"') :]
    assert "旧书回收日" in table
    assert 'class="flagged"' in table.split("</table>")[0]
    client.force_login(member.user)
    assert client.get("/staff/risk/").status_code == 403
