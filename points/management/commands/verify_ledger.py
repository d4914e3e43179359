from django.core.management.base import BaseCommand, CommandError

from points.selectors import ledger_verify


class Command(BaseCommand):
    help = (
        "Recompute the ledger's invariants (zero-sum transactions, cached balances, lots, "
        "the seal chain). Exits non-zero naming each discrepancy."
    )

    def handle(self, *args, **options):
        report = ledger_verify()
        summary = (
            f"{report.transactions} transactions, {report.entries} entries, "
            f"{report.member_accounts} member accounts, {report.lots} lots, "
            f"{report.sealed} sealed ({report.unsealed} awaiting the next seal), "
            f"{report.accounts_in_debt} accounts in debt"
        )
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"Ledger OK: {summary}."))
            return
        for problem in report.problems:
            self.stderr.write(f"DISCREPANCY {problem}")
        raise CommandError(
            f"Ledger verification failed: {len(report.problems)} discrepancies ({summary})."
        )
