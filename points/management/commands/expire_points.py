import time

from django.core.management.base import BaseCommand, CommandError

from points.services.expiry import DEFAULT_BATCH_SIZE, points_expire_and_notify


class Command(BaseCommand):
    help = (
        "Expire points whose lots are past their expiry date: one transaction per member "
        "account, set-based batches of accounts. Safe to run again or alongside another run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"member accounts per database transaction (default {DEFAULT_BATCH_SIZE})",
        )

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        started = time.monotonic()
        run = points_expire_and_notify(batch_size=options["batch_size"])
        self.stdout.write(
            f"Expired {run.points} points from {run.lots} lots in {run.transactions} "
            f"transactions ({run.batches} batches, {time.monotonic() - started:.1f} s)."
        )
