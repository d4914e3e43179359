from django.core.management.base import BaseCommand, CommandError

from points.services.checkpoints import SigningKeyMissing, key_id, public_key, public_key_pem


class Command(BaseCommand):
    help = (
        "Print the public key (PEM) that verifies the ledger's signed checkpoints; give it "
        "to auditors for tools/verify_export.py --public-key."
    )

    def handle(self, *args, **options):
        try:
            key = public_key()
        except (SigningKeyMissing, ValueError, OSError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(public_key_pem(key), ending="")
        self.stderr.write(f"key id {key_id(key)}")
