import json

from django.core.management.base import BaseCommand, CommandError

from points.selectors import ledger_verify


class Command(BaseCommand):
    help = (
        "Recompute the ledger: zero-sum transactions, cached balances, lots, the seal chain, "
        "the signed checkpoints, and every transaction against its document and the accounts "
        "its kind may touch. Exits 1 naming each finding; never crashes on a damaged database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, json: bool = False, **options):
        report = ledger_verify()
        if json:
            self.stdout.write(_dumps(report.as_json()))
        else:
            self._print(report)
        if not report.ok:
            raise CommandError(
                f"Ledger verification failed: {len(report.findings)} findings.", returncode=1
            )

    def _print(self, report) -> None:
        summary = (
            f"{report.transactions} transactions, {report.entries} entries, "
            f"{report.member_accounts} member accounts, {report.lots} lots, "
            f"{report.sealed} sealed ({report.unsealed} awaiting the next seal), "
            f"{report.accounts_in_debt} accounts in debt"
        )
        checkpoint = report.latest_checkpoint
        head = f"Chain head: {report.head_hash} ({report.sealed} sealed)."
        latest = (
            f"Latest checkpoint: #{checkpoint['seq']} at {checkpoint['at']}, "
            f"{checkpoint['sealed_count']} sealed, head {checkpoint['head_hash']}."
            if checkpoint
            else "Latest checkpoint: none yet."
        )
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"Ledger OK: {summary}."))
            self.stdout.write(head)
            self.stdout.write(latest)
            return
        for finding in report.findings:
            self.stderr.write(f"DISCREPANCY {finding}")
        self.stderr.write(f"({summary}; {head})")


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
