"""A realistic ledger for the audit tests, and the tools an auditor (or an attacker) uses on it.

Purchases (with green points and the first-purchase bonus), a refund, redemptions, a member
cancel, a merchant cancel with compensation, a small and a two-approver adjustment, and an
expiry of a lot earned 13 months ago; sealed in two runs (two signed checkpoints).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from points.services.adjustments import adjustment_approve, adjustment_request
from points.services.expiry import points_expire_due
from points.services.sealing import ledger_seal
from redemption.services.redemptions import (
    redemption_cancel_by_member,
    redemption_cancel_by_merchant,
    reward_redeem,
)
from redemption.services.rewards import reward_create
from reports.audit import audit_filters
from reports.services.audit import audit_export_to_file
from tests.reports.conftest import buy, refund

ROOT = Path(__file__).resolve().parents[2]
VERIFY_EXPORT = ROOT / "tools" / "verify_export.py"


def build_history(shop_a, shop_b, make_member, settings) -> dict:
    settings.POINTS_EXPIRY_MONTHS = 12
    ann, bob = make_member(), make_member()
    staff, second = (
        get_user_model().objects.create_user(name, password="pw-12345-long", is_superuser=True)
        for name in ("auditor-staff-1", "auditor-staff-2")
    )
    now = timezone.now()
    with time_machine.travel(now - timedelta(days=400), tick=True):
        buy(bob, shop_b, [("pens", 3, 4500)], timezone.now())  # expires 35 days ago
    first = buy(ann, shop_a, [("GREEN-NB-01", 3, 3840), ("pens", 2, 700)], now)
    buy(bob, shop_b, [("tea", 2, 6000)], now)
    buy(ann, shop_b, [("notebooks", 1, 20000)], now)
    refund(first, line_no=2, quantity=1)
    ledger_seal()  # checkpoint 1
    reward = reward_create(
        merchant=shop_b, title="=HYPERLINK(奖品)", points_price=50, face_value_fen=250, stock=10
    )
    kept = reward_redeem(member=ann, reward=reward, quantity=1, idempotency_key="keep-1")
    undone = reward_redeem(member=ann, reward=reward, quantity=1, idempotency_key="undo-1")
    redemption_cancel_by_member(redemption=undone, member=ann)
    by_shop = reward_redeem(member=bob, reward=reward, quantity=1, idempotency_key="shop-1")
    redemption_cancel_by_merchant(redemption=by_shop, reason="缺货 out of stock")
    adjustment_request(member=ann, points=30, reason="+补录 missing points", requested_by=staff)
    big = adjustment_request(
        member=bob, points=1500, reason="-=SUM(A1) goodwill", requested_by=staff
    )
    adjustment_approve(adjustment=big, approved_by=second)
    run = points_expire_due()
    ledger_seal()  # checkpoint 2
    return {"ann": ann, "bob": bob, "kept": kept, "expired": run, "reward": reward}


def export(path: Path, file_format: str = "jsonl", **filters) -> Path:
    filters.setdefault("date_from", "2000-01-01")
    filters.setdefault("date_to", (timezone.localdate() + timedelta(days=1)).isoformat())
    with open(path, "wb") as handle:
        audit_export_to_file(
            filters=audit_filters(**filters), file_format=file_format, out=handle, actor="test"
        )
    return path


def public_key_file(directory: Path) -> Path:
    out = io.StringIO()
    call_command("ledger_public_key", stdout=out, stderr=io.StringIO())
    path = directory / "ledger-public.pem"
    path.write_text(out.getvalue())
    return path


def verify_export(export_path: Path, key: Path, *extra: str) -> tuple[int, str]:
    """Run the auditor's tool as an outsider would: isolated (-I: no PYTHONPATH, no project
    on sys.path), from another directory."""
    completed = subprocess.run(
        [sys.executable, "-I", str(VERIFY_EXPORT), str(export_path), "--public-key", str(key)]
        + list(extra),
        capture_output=True,
        text=True,
        cwd="/",
        timeout=120,
    )
    return completed.returncode, completed.stdout + completed.stderr


def verify_export_json(export_path: Path, key: Path, *extra: str) -> tuple[int, dict]:
    code, out = verify_export(export_path, key, "--json", *extra)
    return code, json.loads(out)


@contextmanager
def bypassing_the_guards():
    """Tamper as the database's superuser can: triggers (append-only, lot terms, foreign
    keys) are off for this session while the block runs."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            yield cursor
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
