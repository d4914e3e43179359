"""Deploy checks: no demo secrets in a database served with DEBUG off.

Error level, tagged `deploy`, so `manage.py check --deploy` (run by the release step) fails
while the demo POS key or a demo user with the public demo password is still there.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.checks import Error, Tags, register
from django.db import DatabaseError
from django.db.models import Q

from merchants.demo import DEMO_POS_KEY
from merchants.models import Terminal, hash_api_key
from points.management.commands.seed_demo import DEMO_PASSWORD

DEMO_USERNAMES = (
    "demo",
    "merchant",
    "merchant2",
    "staff",
    "organiser",
    "admin",
    "xiaoming",
    "xiaohong",
)
# Back-office users checked for the demo password besides the demo names (hashing is slow).
MOST_STAFF_CHECKED = 200


def demo_secrets_found() -> list[str]:
    """What demo secrets the database still holds: "pos_key" and "user:<name>" items."""
    found = []
    if Terminal.objects.filter(key_hash=hash_api_key(DEMO_POS_KEY)).exists():
        found.append("pos_key")
    users = (
        get_user_model()
        .objects.filter(Q(username__in=DEMO_USERNAMES) | Q(is_staff=True) | Q(is_superuser=True))
        .filter(is_active=True)
        .order_by("-is_superuser", "-is_staff", "pk")[:MOST_STAFF_CHECKED]
    )
    found += [f"user:{user.get_username()}" for user in users if user.check_password(DEMO_PASSWORD)]
    return found


@register(Tags.security, deploy=True)
def check_no_demo_secrets(app_configs=None, **kwargs) -> list[Error]:
    if settings.DEBUG:
        return []
    try:
        found = demo_secrets_found()
    except DatabaseError:
        return []  # no tables yet (before the first migrate): nothing to leak
    errors = []
    if "pos_key" in found:
        errors.append(
            Error(
                f"The demo POS key {DEMO_POS_KEY[:8]}… is active in this database.",
                hint="Revoke the demo terminal in admin (or issue it a new key).",
                id="jifen.E001",
            )
        )
    users = [item.removeprefix("user:") for item in found if item.startswith("user:")]
    if users:
        errors.append(
            Error(
                f"Users with the public demo password: {', '.join(users)}.",
                hint="Set new passwords (manage.py changepassword) or deactivate these users.",
                id="jifen.E002",
            )
        )
    return errors
