"""The merchants' daily fulfilment digest: new redemptions of the last day and those still
waiting to be prepared or collected, emailed to the merchant's back-office users."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from merchants.models import Merchant, MerchantMembership
from redemption.models import FULFILMENT_STAGES, Redemption
from redemption.selectors import fulfilment_counts

MAX_LISTED = 30


def merchant_digests_send(*, now: datetime | None = None) -> int:
    """One email per merchant with something new or waiting, to its active users with an
    email address. Returns how many emails were sent. Written in the site's language
    (merchant users have no language of their own)."""
    now = now or timezone.now()
    since = now - timedelta(days=1)
    recipients: dict[int, list[str]] = {}
    memberships = MerchantMembership.objects.filter(
        user__is_active=True, merchant__active=True
    ).exclude(user__email="")
    for merchant_id, email in memberships.values_list("merchant_id", "user__email"):
        recipients.setdefault(merchant_id, []).append(email)
    sent = 0
    for merchant in Merchant.objects.filter(pk__in=recipients).order_by("pk"):
        redemptions = Redemption.objects.filter(merchant=merchant)
        counts = fulfilment_counts(redemptions, since=since)
        if not (counts["new"] or counts["waiting"] or counts["ready"]):
            continue
        waiting = list(
            redemptions.filter(FULFILMENT_STAGES["waiting"] | FULFILMENT_STAGES["ready"])
            .select_related("member")
            .order_by("created_at", "id")[:MAX_LISTED]
        )
        with translation.override(settings.LANGUAGE_CODE):
            subject = _("[Points] %(merchant)s: %(new)s new, %(waiting)s to prepare") % {
                "merchant": merchant.name,
                "new": counts["new"],
                "waiting": counts["waiting"],
            }
            lines = [
                _("New redemptions in the last 24 hours: %(count)s") % {"count": counts["new"]},
                _("Being prepared: %(count)s") % {"count": counts["waiting"]},
                _("Ready for pickup: %(count)s") % {"count": counts["ready"]},
                "",
            ]
            lines += [
                f"#{r.pk} {r.reward_title} ×{r.quantity} · {r.member.member_no} · "
                f"{r.pickup_code} · {r.get_fulfilment_stage_display()}"
                for r in waiting
            ]
            lines += ["", _("Open the back office: %(url)s") % {"url": _admin_url()}]
        send_mail(
            subject,
            "\n".join(lines) + "\n",
            settings.DEFAULT_FROM_EMAIL,
            sorted(set(recipients[merchant.pk])),
        )
        sent += 1
    return sent


def _admin_url() -> str:
    return f"{settings.SITE_URL}{reverse('admin:redemption_redemption_changelist')}?stage=waiting"
