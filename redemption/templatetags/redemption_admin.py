"""The admin index's fulfilment box: new and waiting redemptions of the user's merchant."""

from datetime import timedelta

from django import template
from django.utils import timezone

from merchants.admin_scoping import scope_queryset
from redemption.models import Redemption
from redemption.selectors import fulfilment_counts

register = template.Library()


@register.simple_tag
def fulfilment_summary(user):
    """Counts for the admin index, or None for a user who may not see redemptions."""
    if not user.has_perm("redemption.view_redemption") and not user.has_perm(
        "redemption.change_redemption"
    ):
        return None
    scoped = scope_queryset(Redemption.objects.all(), user)
    return fulfilment_counts(scoped, since=timezone.now() - timedelta(days=1))
