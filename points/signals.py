"""Signal receivers of the points app (connected in `PointsConfig.ready`)."""

from django.contrib.auth.signals import user_logged_in
from django.utils import translation

from points.services.members import member_language_set


def remember_member_language(sender, request, user, **kwargs) -> None:
    """Messages sent later (refunds, cancels, reminders) use the language of the last login."""
    language = getattr(request, "LANGUAGE_CODE", None) or translation.get_language()
    member_language_set(user=user, language=language)


def connect_signals() -> None:
    user_logged_in.connect(remember_member_language, dispatch_uid="points.remember_language")
