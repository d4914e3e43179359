"""Running `ledger_verify` and keeping its result for the integrity page."""

from __future__ import annotations

from django.utils import timezone

from points.selectors import ledger_verify
from reports.models import LedgerVerification


def ledger_verification_run(*, requested_by: str = "system") -> LedgerVerification:
    """Verify the whole ledger and store the outcome (problems are listed, first 200)."""
    run = LedgerVerification.objects.create(requested_by=requested_by[:150])
    result = ledger_verify()
    run.ok = result.ok
    run.transactions = result.transactions
    run.entries = result.entries
    run.sealed = result.sealed
    run.unsealed = result.unsealed
    run.problems = result.problems[:200]
    run.finished_at = timezone.now()
    run.save()
    return run
