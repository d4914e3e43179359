import getpass
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from reports.audit import FORMATS, BadFilter, audit_filters
from reports.services.audit import audit_export_to_file


class Command(BaseCommand):
    help = (
        "Export the audit trail, one row per ledger entry, from one consistent snapshot "
        "(CSV in UTF-8 with BOM, or JSON lines). Every export is logged with its sha256."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", required=True, help="YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", required=True, help="YYYY-MM-DD, inclusive")
        parser.add_argument("--member", help="member number or username")
        parser.add_argument("--merchant", help="merchant slug")
        parser.add_argument("--kind", help="transaction kind, e.g. earn, redeem, refund")
        parser.add_argument("--format", dest="file_format", default="csv", choices=FORMATS)
        parser.add_argument("--out", required=True, help="file to write ('-' = stdout)")

    def handle(self, *args, date_from, date_to, member, merchant, kind, file_format, out, **_):
        try:
            filters = audit_filters(
                date_from=date_from, date_to=date_to, member=member, merchant=merchant, kind=kind
            )
            out.encode("utf-8")
        except BadFilter as error:
            raise CommandError(str(error)) from error
        except UnicodeEncodeError as error:
            raise CommandError("--out must be valid UTF-8 text.") from error
        actor = f"export_audit ({_os_user()})"
        try:
            if out == "-":
                log = audit_export_to_file(
                    filters=filters, file_format=file_format, out=sys.stdout.buffer, actor=actor
                )
            else:
                with open(out, "wb") as handle:
                    log = audit_export_to_file(
                        filters=filters, file_format=file_format, out=handle, actor=actor
                    )
        except OSError as error:
            raise CommandError(f"Cannot write {out}: {error.strerror}.") from error
        self.stderr.write(
            f"Exported {log.row_count} entries to {out} (sha256 {log.sha256}, log #{log.pk})."
        )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
