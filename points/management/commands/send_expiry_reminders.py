from django.conf import settings
from django.core.management.base import BaseCommand

from points.services.reminders import expiry_reminders_send


class Command(BaseCommand):
    help = (
        "Remind members of points that expire within POINTS_EXPIRY_REMINDER_DAYS "
        "(once per lot and threshold)."
    )

    def handle(self, *args, **options):
        run = expiry_reminders_send()
        thresholds = ", ".join(str(d) for d in sorted(settings.POINTS_EXPIRY_REMINDER_DAYS))
        self.stdout.write(
            f"Sent {run.notifications} expiry reminders covering {run.lots} lots "
            f"(thresholds: {thresholds} days)."
        )
