"""Who may see which report page."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from merchants.models import MerchantMembership

PLATFORM_STAFF = "Platform staff"


def is_platform_staff(user) -> bool:
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    return user.is_superuser or user.groups.filter(name=PLATFORM_STAFF).exists()


def platform_staff_required(view):
    """Logged-in platform staff (or a superuser) only; anyone else logged in gets 403."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not is_platform_staff(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def merchant_of(user):
    """The one merchant a back-office user belongs to, or None."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return None
    membership = MerchantMembership.objects.select_related("merchant").filter(user=user).first()
    return membership.merchant if membership else None
