"""Member and organiser pages of green activities (server-rendered, no JavaScript needed)."""

import secrets

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from activities.forms import CheckInForm
from activities.models import Activity, CheckIn
from activities.selectors import activities_for, check_ins_of, organiser_community
from activities.services import ActivityError, activity_attendance_confirm, activity_check_in
from merchants.admin_scoping import is_platform_user
from points import dynamic_code
from points.views import member_for, member_required

DEVICE_COOKIE = "jf_device"
DEVICE_COOKIE_AGE = 400 * 24 * 3600


@never_cache
def activity_list(request):
    member = member_for(request)
    context = {
        "activities": list(activities_for(member)[:100]),
        "member": member,
        "check_ins": list(check_ins_of(member)[:50]) if member else [],
        "now": timezone.now(),
    }
    return render(request, "activities/activity_list.html", context)


def _device_id(request) -> tuple[str, bool]:
    """The browser's long-lived device id (a cookie: a session is renewed at every login)."""
    device = request.COOKIES.get(DEVICE_COOKIE, "")
    if 16 <= len(device) <= 64 and device.isascii() and device.isalnum():
        return device, False
    return secrets.token_hex(16), True


@never_cache
@require_http_methods(["GET", "POST"])
@member_required
def activity_check_in_page(request, member, pk):
    activity = get_object_or_404(Activity, pk=pk, status=Activity.Status.APPROVED)
    device, new_device = _device_id(request)
    checked_in = CheckIn.objects.filter(activity=activity, member=member).first()
    if request.method == "POST":
        form = CheckInForm(request.POST)
        if form.is_valid():
            try:
                checked_in = activity_check_in(
                    activity=activity,
                    member=member,
                    code=form.cleaned_data["code"],
                    device_id=device,
                )
            except ActivityError as error:
                form.add_error("code", error.message)
    else:
        code = request.GET.get("code", "")
        form = CheckInForm(initial={"code": code[:6] if code.isascii() and code.isdigit() else ""})
    status = 400 if request.method == "POST" and form.errors else 200
    response = render(
        request,
        "activities/check_in.html",
        {"activity": activity, "form": form, "checked_in": checked_in},
        status=status,
    )
    if new_device:
        response.set_cookie(
            DEVICE_COOKIE,
            device,
            max_age=DEVICE_COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response


def _organised_activity(request, pk) -> Activity:
    """The activity, if `request.user` organises its community (or is platform staff);
    another community's activity is a 404, like a missing one."""
    activity = get_object_or_404(Activity.objects.select_related("community"), pk=pk)
    if is_platform_user(request.user):
        return activity
    if organiser_community(request.user) != activity.community:
        raise Http404
    return activity


@never_cache
@login_required
def activity_code(request, pk):
    activity = _organised_activity(request, pk)
    now = timezone.now()
    code = dynamic_code.code_now(activity.checkin_secret, at=now)
    link = request.build_absolute_uri(f"/activities/{activity.pk}/check-in/?code={code}")
    return render(
        request,
        "activities/code.html",
        {
            "activity": activity,
            "code": code,
            "link": link,
            "seconds_left": dynamic_code.seconds_left(at=now),
            "running": activity.is_running(now),
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def activity_attendance(request, pk):
    activity = _organised_activity(request, pk)
    check_ins = list(activity.check_ins.select_related("member").order_by("created_at"))
    error = None
    if request.method == "POST" and activity.confirmed_at is None:
        present = set()
        for value in request.POST.getlist("present"):
            if value.isascii() and value.isdigit() and len(value) < 19:
                present.add(int(value))
        absent = frozenset(c.member_id for c in check_ins if c.member_id not in present)
        try:
            activity_attendance_confirm(
                activity=activity, actor=request.user, absent_member_ids=absent
            )
        except ActivityError as refused:
            error = refused.message
        else:
            return redirect("activity_attendance", pk=activity.pk)
    return render(
        request,
        "activities/attendance.html",
        {
            "activity": activity,
            "check_ins": check_ins,
            "error": error,
            "can_confirm": activity.confirmed_at is None and timezone.now() >= activity.ends_at,
        },
        status=400 if error else 200,
    )
