from django import template
from django.urls import reverse
from django.utils.translation import gettext as _

from reports.access import is_platform_staff, merchant_of

register = template.Library()


@register.simple_tag
def report_links(user) -> list[tuple[str, str]]:
    """The report pages this back-office user may open, as (title, url)."""
    links = []
    if merchant_of(user) is not None:
        links.append((_("Merchant analytics"), reverse("reports:merchant_analytics")))
        links.append((_("Our settlement statement"), reverse("reports:merchant_settlement")))
    if is_platform_staff(user):
        links += [
            (_("Community and school reports"), reverse("reports:community_list")),
            (_("Monthly settlement statement"), reverse("reports:settlement")),
            (_("Audit trail export"), reverse("reports:audit")),
            (_("Ledger integrity"), reverse("reports:integrity")),
            (_("Risk control"), reverse("reports:risk")),
        ]
    return links
