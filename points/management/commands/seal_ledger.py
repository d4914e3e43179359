from django.core.management.base import BaseCommand

from points.services.sealing import ledger_seal


class Command(BaseCommand):
    help = "Append every unsealed ledger transaction to the sha256 hash chain."

    def handle(self, *args, **options):
        sealed = ledger_seal()
        self.stdout.write(f"Sealed {sealed} transactions.")
