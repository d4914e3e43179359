"""Signal receivers of the points app (connected in `PointsConfig.ready`)."""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.utils import translation

from points.models import Member


def remember_member_language(sender, request, user, **kwargs) -> None:
    """Messages sent later (refunds, cancels, reminders) use the language of the last login."""
    language = getattr(request, "LANGUAGE_CODE", None) or translation.get_language()
    if language not in {code for code, _name in settings.LANGUAGES}:
        return
    Member.objects.filter(user=user).exclude(language=language).update(language=language)


def connect_signals() -> None:
    user_logged_in.connect(remember_member_language, dispatch_uid="points.remember_language")
