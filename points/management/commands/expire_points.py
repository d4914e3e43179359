from django.core.management.base import BaseCommand

from points.services.expiry import points_expire_due


class Command(BaseCommand):
    help = "Expire points whose lots are past their expiry date (one transaction per account)."

    def handle(self, *args, **options):
        transactions, points = points_expire_due()
        self.stdout.write(f"Expired {points} points in {transactions} transactions.")
