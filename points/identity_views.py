"""The member's identity pages: sign-up, card claim and SMS login, each in two steps.

Step one takes the mobile and sends a code; its answer is the same redirect for every
well-formed number ("验证码已发送"), card or no card. Step two takes the code (and, to join or
claim, the login the member chooses); only after the code is verified does a page depend
on whether the number has a card. No JavaScript needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth import login
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from config.client_ip import client_ip
from points.forms import ClaimCodeForm, CodeForm, CredentialsCodeForm, MobileForm, SignUpMobileForm
from points.models import IdentityEvent, Member, SmsCode
from points.services.identity import (
    CodeRateLimited,
    IdentityError,
    identity_event_record,
    member_claim,
    member_is_claimed,
    sms_code_send,
    sms_code_verify,
)
from points.services.members import mask_mobile
from points.services.signup import member_sign_up

PENDING = "identity_pending"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@dataclass(frozen=True)
class Flow:
    purpose: str
    url_name: str
    title: str
    intro: str
    mobile_form: type
    code_form: type
    button: str


SIGNUP = Flow(
    SmsCode.Purpose.SIGNUP,
    "signup",
    gettext_lazy("Sign up"),
    gettext_lazy("Your mobile number is your member card. We text you a code to prove it."),
    SignUpMobileForm,
    CredentialsCodeForm,
    gettext_lazy("Create my member card"),
)
CLAIM = Flow(
    SmsCode.Purpose.CLAIM,
    "claim",
    gettext_lazy("Claim the card you got at a shop"),
    gettext_lazy(
        "Joined at a till with your mobile? Prove the number with a code, choose a username "
        "and password, and your card, points and history are yours online."
    ),
    MobileForm,
    ClaimCodeForm,
    gettext_lazy("Claim my card"),
)
LOGIN = Flow(
    SmsCode.Purpose.LOGIN,
    "login_sms",
    gettext_lazy("Log in with an SMS code"),
    gettext_lazy("Enter your mobile number; we text you a code."),
    MobileForm,
    CodeForm,
    gettext_lazy("Log in"),
)


def _client(request) -> str:
    return f"ip:{client_ip(request)}"


def _pending(request, flow: Flow) -> str | None:
    """The mobile waiting for its code in this flow, if any."""
    pending = request.session.get(PENDING)
    if isinstance(pending, dict) and pending.get("purpose") == flow.purpose:
        return pending.get("mobile")
    return None


def _render(request, flow, *, step, form, mobile=None, sent=False, refusal="", status=200):
    return render(
        request,
        "registration/identity.html",
        {
            "flow": flow,
            "step": step,
            "form": form,
            "mobile_masked": mask_mobile(mobile),
            "sent": sent,
            "refusal": refusal,
        },
        status=status,
    )


def _flow_view(request, flow: Flow):
    if request.user.is_authenticated:
        return redirect("dashboard")
    here = reverse(flow.url_name)
    if request.GET.get("restart"):
        request.session.pop(PENDING, None)
        return redirect(here)
    mobile = _pending(request, flow)
    action = request.POST.get("action") if request.method == "POST" else None
    if mobile and action == "verify":
        return _verify(request, flow, mobile)
    if mobile and action == "resend":
        try:
            sms_code_send(mobile=mobile, purpose=flow.purpose, client=_client(request))
        except CodeRateLimited as error:
            return _render(
                request, flow, step="code", form=flow.code_form(), mobile=mobile, refusal=str(error)
            )
        return redirect(f"{here}?sent=1")
    if request.method == "POST":
        form = flow.mobile_form(request.POST)
        if form.is_valid():
            number = form.cleaned_data["mobile"]
            try:
                sms_code_send(mobile=number, purpose=flow.purpose, client=_client(request))
            except CodeRateLimited as error:
                form.add_error("mobile", str(error))
            else:
                request.session[PENDING] = {"purpose": flow.purpose, "mobile": number}
                return redirect(f"{here}?sent=1")
        return _render(request, flow, step="mobile", form=form)
    if mobile:
        return _render(
            request,
            flow,
            step="code",
            form=flow.code_form(),
            mobile=mobile,
            sent=bool(request.GET.get("sent")),
        )
    return _render(request, flow, step="mobile", form=flow.mobile_form())


def _verify(request, flow: Flow, mobile: str):
    form = flow.code_form(request.POST)
    if not form.is_valid():
        return _render(request, flow, step="code", form=form, mobile=mobile)
    try:
        sms_code_verify(
            mobile=mobile,
            purpose=flow.purpose,
            code=form.cleaned_data["code"],
            client=_client(request),
        )
    except IdentityError as error:
        form.add_error("code", str(error))
        return _render(request, flow, step="code", form=form, mobile=mobile)
    request.session.pop(PENDING, None)
    # From here on the number is proven: the answer may depend on its card.
    member = Member.objects.select_related("user").filter(mobile=mobile).first()
    if member is not None and not member.user.is_active:
        messages.error(request, _("This account is closed. Please contact customer service."))
        return redirect("login")
    if flow is SIGNUP and member is None:
        try:
            member, _created, bonus = member_sign_up(
                mobile=mobile,
                username=form.cleaned_data.get("username"),
                password=form.cleaned_data["password1"],
                email=form.cleaned_data.get("email") or "",
                client=_client(request),
            )
        except IntegrityError:  # the username was taken a moment ago
            return _username_taken(request, flow, form, mobile)
        login(request, member.user, backend=MODEL_BACKEND)
        if bonus is not None:
            messages.success(
                request,
                _("Welcome! %(points)d sign-up bonus points are in your account.")
                % {"points": bonus.breakdown.get("points", 0)},
            )
        else:
            messages.success(request, _("Welcome to Jifen!"))
        return redirect("dashboard")
    if member is None:  # claim or SMS login of a number without a card
        messages.info(request, _("This mobile number has no member card yet. Sign up here."))
        return redirect("signup")
    if flow in (SIGNUP, CLAIM) and not member_is_claimed(member):
        try:
            member_claim(
                member=member,
                username=form.cleaned_data.get("username") or member.user.username,
                password=form.cleaned_data["password1"],
                client=_client(request),
            )
        except IntegrityError:  # the username was taken a moment ago
            return _username_taken(request, flow, form, mobile)
        login(request, member.user, backend=MODEL_BACKEND)
        messages.success(
            request, _("Your card is yours online now: your points and history are below.")
        )
        return redirect("dashboard")
    identity_event_record(
        kind=IdentityEvent.Kind.LOGIN_SMS,
        mobile=mobile,
        member=member,
        actor=f"user:{member.user_id}",
        client=_client(request),
    )
    login(request, member.user, backend=MODEL_BACKEND)
    if flow is not LOGIN:
        messages.info(
            request, _("This mobile number already has a member card: you are logged in.")
        )
    return redirect("dashboard")


def _username_taken(request, flow, form, mobile):
    # The code is used up: the member asks for a new one with another username.
    request.session[PENDING] = {"purpose": flow.purpose, "mobile": mobile}
    form.add_error("username", _("This username is taken. Choose another."))
    return _render(
        request,
        flow,
        step="code",
        form=form,
        mobile=mobile,
        refusal=_("Ask for a new code, then try again."),
    )


@never_cache
@require_http_methods(["GET", "POST"])
def sign_up(request):
    return _flow_view(request, SIGNUP)


@never_cache
@require_http_methods(["GET", "POST"])
def claim(request):
    return _flow_view(request, CLAIM)


@never_cache
@require_http_methods(["GET", "POST"])
def login_sms(request):
    return _flow_view(request, LOGIN)
