from django.core.management.base import BaseCommand, CommandError

from points.services.checkpoints import SigningKeyMissing
from points.services.sealing import ledger_seal


class Command(BaseCommand):
    help = (
        "Append every unsealed ledger transaction to the sha256 hash chain, then sign a "
        "checkpoint of the new head (docs/audit.md)."
    )

    def handle(self, *args, **options):
        try:
            sealed = ledger_seal()
        except SigningKeyMissing as error:
            raise CommandError(
                f"Sealed, but no checkpoint was signed: {error} Set LEDGER_SIGNING_KEY_FILE "
                f"(docs/audit.md, Keys)."
            ) from error
        self.stdout.write(f"Sealed {sealed} transactions.")
