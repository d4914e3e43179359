from django.core.management.base import BaseCommand, CommandError

from points.services.imports import DEFAULT_BATCH_ROWS, ImportFileError, purchases_import


class Command(BaseCommand):
    help = (
        "Import historical purchases from a CSV file (merchant,member_no,receipt_no,"
        "occurred_at,sku,category,quantity,amount_fen; one row per line). Receipts already "
        "recorded are skipped; rejected receipts go to a rejects CSV with the reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the CSV file")
        parser.add_argument(
            "--rejects", help="where to write rejected rows (default: <file>.rejects.csv)"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_ROWS,
            help=f"rows per database transaction (default {DEFAULT_BATCH_ROWS})",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            summary = purchases_import(
                path=options["path"],
                rejects_path=options["rejects"],
                batch_rows=options["batch_size"],
                progress=not options["no_progress"],
            )
        except ImportFileError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Read {summary.rows} rows: imported {summary.purchases} purchases "
            f"({summary.lines} lines, {summary.points} points, {summary.green_points} green "
            f"points); {summary.already_recorded} already recorded, skipped; "
            f"{summary.rejected_purchases} purchases ({summary.rejected_rows} rows) rejected."
        )
        if summary.rejected_rows:
            self.stdout.write(f"Rejected rows and reasons: {summary.rejects_path}")
