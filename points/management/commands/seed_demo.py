"""Demo data for `make run`: the accounts of DESIGN.md and a few months of history.

Each app contributes its own part in a `demo.py` module with `seed_demo(context)`, called in
INSTALLED_APPS order (merchants, points, redemption, reports), so no app imports one to its
right. Every part is idempotent: rows are looked up before they are created and every ledger
posting carries a fixed idempotency key, so running the command again changes nothing.
"""

from importlib import import_module
from importlib.util import find_spec

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from points.services.checkpoints import SigningKeyMissing
from points.services.sealing import ledger_seal

DEMO_PASSWORD = "demo12345"


class Command(BaseCommand):
    help = "Create the demo accounts, merchants, catalog and some history (idempotent)."

    def handle(self, *args, **options):
        if not settings.DEMO_DATA_ALLOWED:
            # Public passwords and a fixed POS key must never reach a real deployment.
            raise CommandError(
                "seed_demo refuses to run under production settings: demo users have a "
                "public password and the demo POS key is published."
            )
        context = {"now": timezone.now(), "password": DEMO_PASSWORD, "messages": []}
        with transaction.atomic():
            for app_config in apps.get_app_configs():
                module_name = f"{app_config.name}.demo"
                if find_spec(module_name) is not None:
                    import_module(module_name).seed_demo(context)
        for message in context["messages"]:
            self.stdout.write(message)
        # With no broker (make run) nothing else seals: seal the demo history and sign its
        # first checkpoint (the signing key is generated under var/ on first use).
        try:
            sealed = ledger_seal()
        except SigningKeyMissing as error:
            self.stderr.write(f"Sealed, but no checkpoint signed: {error} (docs/audit.md, Keys)")
        else:
            self.stdout.write(f"Sealed {sealed} transactions.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready. Log in as demo / {DEMO_PASSWORD} (member M00000001); "
                f"staff: staff, admin; merchants: merchant, merchant2."
            )
        )
        if settings.SMS_BACKEND == "points.sms.FileBackend":
            self.stdout.write(
                f"SMS codes (sign-up, claim, SMS login) go to {settings.SMS_FILE_PATH}"
            )
