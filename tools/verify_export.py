#!/usr/bin/env python3
"""Verify a Jifen audit-trail export with nothing but the file and the ledger's public key.

    python3 tools/verify_export.py EXPORT.jsonl --public-key ledger-public-key.pem
    python3 tools/verify_export.py EXPORT.csv --public-key KEY.pem --checkpoints mailed.jsonl

Standalone on purpose: Python 3.11+ standard library plus `cryptography` (for Ed25519), no
import of the Jifen code base, so an auditor can read every line of what they run. It
implements docs/audit.md and recomputes:

* every transaction's zero sum, and every sealed transaction's sha256 from its exported
  fields (seal versions 1 and 2);
* the chain: each transaction's previous hash is the hash before it, and, for an export
  without member/merchant/kind filters, no position in the chain is missing;
* running balances per account (each `balance_after` = the one before + `points`);
* lots: each lot is credited by its transaction, never consumed beyond its amount, and an
  expiry consumes only lots that were due at that moment;
* which accounts each kind may touch, and that every kind moves a member account;
* the checkpoints (in the export and any given with --checkpoints): each signature with the
  public key, and each head hash against the chain; a checkpoint covering transactions the
  export should hold but does not (a deleted tail) is named.

Exit status: 0 when everything verifies, 1 naming each finding, 2 when the file cannot be
read at all.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

GENESIS_HASH = "0" * 64
EXPORT_FORMAT = "jifen-audit-export"
COLUMNS = [
    "record",
    "seq",
    "transaction_id",
    "kind",
    "kind_label",
    "posted_at",
    "occurred_at",
    "merchant_id",
    "merchant",
    "member_id",
    "member_no",
    "reference",
    "reason",
    "actor",
    "idempotency_key",
    "reverses",
    "breakdown",
    "account_id",
    "account",
    "points",
    "balance_after",
    "lots",
    "allocations",
    "seal_version",
    "prev_hash",
    "hash",
    "record_data",
]
INTEGER_COLUMNS = {
    "seq",
    "transaction_id",
    "merchant_id",
    "member_id",
    "reverses",
    "account_id",
    "points",
    "balance_after",
    "seal_version",
}
# Columns that are never NULL in the ledger: an empty CSV cell is the empty string there.
TEXT_NOT_NULL = {"kind", "reference", "reason", "actor", "idempotency_key", "account"}
MEMBER_ACCOUNT_KINDS = {"standard", "green"}
# docs/audit.md, "Which accounts each kind may touch".
ALLOWED_ACCOUNTS = {
    "earn": {"standard", "green", "issuance", "green_issuance"},
    "green_earn": {"standard", "green", "issuance", "green_issuance"},
    "refund": {"standard", "green", "issuance", "green_issuance"},
    "bonus": {"standard", "issuance"},
    "adjust": {"standard", "adjustment"},
    "expire": {"standard", "green", "expiry"},
    "redeem": {"standard", "redemption"},
    "redeem_cancel": {"standard", "redemption"},
    "compensation": {"standard", "issuance"},
    "green_activity": {"green", "activity_issuance"},
}
SIGNED_FIELDS = ("seq", "head_hash", "sealed_count", "at")


class ExportUnreadable(Exception):
    pass


@dataclass
class Transaction:
    txn_id: int
    first: dict
    entries: list[dict] = field(default_factory=list)


@dataclass
class Result:
    findings: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, code: str, message: str) -> None:
        self.findings.append((code, message))


# --- reading -------------------------------------------------------------------------------


def unsafe_cell(text: str) -> str:
    """Undo the CSV's formula guard: one leading apostrophe is dropped (docs/audit.md)."""
    return text[1:] if text.startswith("'") else text


def read_export(path: str) -> list[dict]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise ExportUnreadable(f"cannot read {path}: {error.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExportUnreadable(f"{path} is not UTF-8 text") from None
    if text.lstrip().startswith("{"):
        return _read_jsonl(text)
    return _read_csv(text)


def _read_jsonl(text: str) -> list[dict]:
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise ExportUnreadable(f"line {number} is not JSON") from None
        if not isinstance(record, dict) or list(record) != COLUMNS:
            raise ExportUnreadable(f"line {number} does not have the export's columns")
        records.append(record)
    return records


def _read_csv(text: str) -> list[dict]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or len(rows[0]) != len(COLUMNS):
        raise ExportUnreadable(f"the CSV header does not have the {len(COLUMNS)} export columns")
    records = []
    for number, row in enumerate(rows[1:], 2):
        if len(row) != len(COLUMNS):
            raise ExportUnreadable(f"CSV line {number} has {len(row)} cells, not {len(COLUMNS)}")
        record = {}
        for name, cell in zip(COLUMNS, row, strict=True):
            cell = unsafe_cell(cell)
            if name in INTEGER_COLUMNS:
                try:
                    record[name] = int(cell) if cell != "" else None
                except ValueError:
                    raise ExportUnreadable(f"CSV line {number}: {name} is not a number") from None
            elif cell == "" and name not in TEXT_NOT_NULL:
                record[name] = None
            else:
                record[name] = cell
        records.append(record)
    return records


# --- the seal (docs/audit.md, "The seal") ---------------------------------------------------


def canonical_json(document) -> str:
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_field(value, default):
    if value is None:
        return default
    return json.loads(value) if isinstance(value, str) else value


def sealed_document(txn: Transaction, version: int) -> dict:
    head = txn.first
    created = datetime.fromisoformat(head["posted_at"])
    breakdown = _json_field(head["breakdown"], {})
    allocations = sorted(_json_field(head["allocations"], []))
    if version == 1:
        return {
            "id": txn.txn_id,
            "kind": head["kind"],
            "idempotency_key": head["idempotency_key"],
            "merchant": head["merchant_id"],
            "member": head["member_id"],
            "reference": head["reference"],
            "reason": head["reason"],
            "actor": head["actor"],
            "breakdown": breakdown,
            "reverses": head["reverses"],
            "created_at": created.astimezone(UTC).isoformat(),
            "entries": sorted([e["account_id"], e["points"]] for e in txn.entries),
            "allocations": allocations,
        }
    if version == 2:
        return {
            "v": 2,
            "id": txn.txn_id,
            "kind": head["kind"],
            "idempotency_key": head["idempotency_key"],
            "merchant": head["merchant_id"],
            "member": head["member_no"] if head["member_id"] is not None else None,
            "reference": head["reference"],
            "reason": head["reason"],
            "actor": head["actor"],
            "breakdown": breakdown,
            "reverses": head["reverses"],
            "created_at": utc_text(created),
            "entries": sorted([e["account"], e["points"]] for e in txn.entries),
            "lots": sorted(_json_field(head["lots"], [])),
            "allocations": allocations,
        }
    raise ValueError(f"unknown seal version {version}")


def seal_hash(prev_hash: str, txn: Transaction, version: int) -> str:
    text = canonical_json(sealed_document(txn, version))
    return hashlib.sha256((prev_hash + text).encode("utf-8")).hexdigest()


def checkpoint_message(checkpoint: dict) -> bytes:
    return canonical_json({name: checkpoint[name] for name in SIGNED_FIELDS}).encode("utf-8")


def account_kind(code: str) -> str:
    """member:<id>:<kind> -> kind; <kind>:<merchant slug or platform> -> kind."""
    parts = code.split(":")
    return parts[2] if parts[0] == "member" and len(parts) == 3 else parts[0]


# --- verification ---------------------------------------------------------------------------


def verify(records: list[dict], *, public_key, extra_checkpoints: list[dict]) -> Result:
    result = Result()
    described = [r for r in records if r["record"] == "export"]
    description = {}
    if len(described) != 1:
        result.add("export_record", "the export must start with exactly one export record")
    else:
        try:
            description = json.loads(described[0]["record_data"])
        except (TypeError, ValueError):
            result.add("export_record", "the export record is not JSON")
        if description.get("format") != EXPORT_FORMAT:
            result.add("export_record", "this is not a Jifen audit export")
    complete = bool(description.get("complete"))
    transactions = _group(records, result)
    by_seq = _check_transactions(transactions, result)
    _check_chain(by_seq, complete, result)
    if complete:
        _check_balances(records, result)
    else:
        result.notes.append("filtered export: chain gaps and running balances not checked")
    _check_lots(transactions, result)
    checkpoints = [
        _json_field(r["record_data"], {}) for r in records if r["record"] == "checkpoint"
    ]
    _check_checkpoints(
        checkpoints + extra_checkpoints, by_seq, complete, description, public_key, result
    )
    return result


def _group(records: list[dict], result: Result) -> dict[int, Transaction]:
    transactions: dict[int, Transaction] = {}
    for record in records:
        if record["record"] != "entry":
            if record["record"] not in ("export", "checkpoint"):
                result.add("unknown_record", f"unknown record type {record['record']!r}")
            continue
        txn_id = record["transaction_id"]
        if not isinstance(txn_id, int) or not isinstance(record["points"], int):
            result.add("malformed_entry", f"an entry without a transaction or points: {record}")
            continue
        txn = transactions.setdefault(txn_id, Transaction(txn_id, record))
        same = ("seq", "kind", "posted_at", "hash", "prev_hash", "lots", "allocations")
        if any(record[name] != txn.first[name] for name in same):
            result.add("inconsistent_transaction", f"transaction {txn_id}: its rows disagree")
        txn.entries.append(record)
    return transactions


def _check_transactions(transactions: dict[int, Transaction], result: Result) -> dict:
    by_seq: dict[int, Transaction] = {}
    unsealed = 0
    for txn in transactions.values():
        where = f"transaction {txn.txn_id}"
        kind = txn.first["kind"]
        total = sum(e["points"] for e in txn.entries)
        if total != 0:
            result.add("unbalanced", f"{where}: entries sum to {total}, not 0")
        kinds = {account_kind(e["account"] or "") for e in txn.entries}
        allowed = ALLOWED_ACCOUNTS.get(kind)
        if allowed is None:
            result.add("unknown_kind", f"{where}: kind {kind!r} is not in docs/audit.md")
        else:
            for entry in txn.entries:
                if account_kind(entry["account"] or "") not in allowed:
                    result.add(
                        "account_not_allowed", f"{where}: {kind} may not post to {entry['account']}"
                    )
        if not kinds & MEMBER_ACCOUNT_KINDS:
            result.add("no_member_account", f"{where}: {kind} moves no member account")
        seq = txn.first["seq"]
        if seq is None:
            unsealed += 1
            continue
        if seq in by_seq:
            result.add("duplicate_seq", f"{where}: chain position #{seq} appears twice")
            continue
        by_seq[seq] = txn
        version = txn.first["seal_version"]
        prev_hash = txn.first["prev_hash"] or ""
        try:
            expected = seal_hash(prev_hash, txn, version)
        except (ValueError, TypeError, KeyError) as error:
            result.add("unverifiable_seal", f"{where} (#{seq}): {error}")
            continue
        if expected != txn.first["hash"]:
            result.add("hash_mismatch", f"{where} (#{seq}): its rows do not give its sealed hash")
    if unsealed:
        result.notes.append(f"{unsealed} transactions not sealed yet (not covered by the chain)")
    return by_seq


def _check_chain(by_seq: dict[int, Transaction], complete: bool, result: Result) -> None:
    if not by_seq:
        return
    first, last = min(by_seq), max(by_seq)
    if first == 1 and by_seq[1].first["prev_hash"] != GENESIS_HASH:
        result.add("chain_broken", "chain position #1 does not start from the genesis hash")
    missing = []
    for seq in range(first, last + 1):
        txn = by_seq.get(seq)
        if txn is None:
            missing.append(seq)
            continue
        before = by_seq.get(seq - 1)
        if before is not None and txn.first["prev_hash"] != before.first["hash"]:
            result.add(
                "chain_broken",
                f"transaction {txn.txn_id} (#{seq}): previous hash is not #{seq - 1}'s hash",
            )
    if complete and missing:
        shown = ", ".join(f"#{seq}" for seq in missing[:20])
        result.add(
            "missing_transaction",
            f"{len(missing)} sealed transactions are missing from the chain: {shown}",
        )


def _check_balances(records: list[dict], result: Result) -> None:
    last: dict[str, int] = {}
    for record in records:
        if record["record"] != "entry":
            continue
        account, after = record["account"], record["balance_after"]
        if account in last and after != last[account] + record["points"]:
            result.add(
                "balance_broken",
                f"transaction {record['transaction_id']}: {account} goes from {last[account]} "
                f"by {record['points']} to {after}",
            )
        last[account] = after


def _check_lots(transactions: dict[int, Transaction], result: Result) -> None:
    lots: dict[int, dict] = {}
    for txn in sorted(transactions.values(), key=lambda t: t.txn_id):
        where = f"transaction {txn.txn_id}"
        credited = defaultdict(int)
        for entry in txn.entries:
            if entry["points"] > 0:
                credited[entry["account"]] += entry["points"]
        created = defaultdict(int)
        for lot in _json_field(txn.first["lots"], []):
            lot_id, code, points, expires_at = lot
            if lot_id in lots:
                result.add("duplicate_lot", f"{where}: lot {lot_id} was already created")
            lots[lot_id] = {"points": points, "used": 0, "expires_at": expires_at, "code": code}
            created[code] += points
        for code, points in created.items():
            given = credited.get(code, 0)
            if points > given:
                result.add(
                    "lot_without_credit", f"{where}: lots of {points} on {code}, credited {given}"
                )
        allocated = 0
        posted = datetime.fromisoformat(txn.first["posted_at"])
        for lot_id, points in _json_field(txn.first["allocations"], []):
            allocated += points
            lot = lots.get(lot_id)
            if lot is None:
                continue  # a lot created before the exported period
            lot["used"] += points
            if lot["used"] > lot["points"]:
                result.add(
                    "lot_overdrawn",
                    f"{where}: lot {lot_id} used {lot['used']} of its {lot['points']} points",
                )
            if txn.first["kind"] == "expire":
                due = lot["expires_at"]
                if due is None or datetime.fromisoformat(due.replace("Z", "+00:00")) > posted:
                    result.add(
                        "expired_before_due",
                        f"{where}: expires lot {lot_id}, due {due}, at {txn.first['posted_at']}",
                    )
        if txn.first["kind"] == "expire":
            member = sum(
                e["points"]
                for e in txn.entries
                if account_kind(e["account"] or "") in MEMBER_ACCOUNT_KINDS
            )
            if member != -allocated:
                result.add(
                    "expiry_mismatch", f"{where}: takes {-member} points but consumes {allocated}"
                )


def _check_checkpoints(checkpoints, by_seq, complete, description, public_key, result) -> None:
    known: dict[int, dict] = {}
    for checkpoint in checkpoints:
        if not isinstance(checkpoint, dict) or any(n not in checkpoint for n in SIGNED_FIELDS):
            result.add("checkpoint_malformed", f"not a checkpoint: {checkpoint!r:.120}")
            continue
        seq = checkpoint["seq"]
        if seq in known:
            if any(known[seq][n] != checkpoint[n] for n in SIGNED_FIELDS):
                result.add("checkpoint_conflict", f"two different checkpoints #{seq}")
            continue
        known[seq] = checkpoint
    if not known:
        result.notes.append("no checkpoints to check")
        return
    end_of_period = _end_of_period(description)
    highest = max(by_seq) if by_seq else 0
    seqs = sorted(known)
    for before, after in zip(seqs, seqs[1:], strict=False):
        if after != before + 1:
            result.add("checkpoint_gap", f"checkpoints #{before + 1}..#{after - 1} are missing")
    for seq in seqs:
        checkpoint = known[seq]
        if not _signature_ok(checkpoint, public_key):
            result.add("checkpoint_signature_invalid", f"checkpoint #{seq}: bad signature")
            continue
        count = checkpoint["sealed_count"]
        txn = by_seq.get(count)
        if txn is not None:
            if txn.first["hash"] != checkpoint["head_hash"]:
                result.add(
                    "checkpoint_mismatch",
                    f"checkpoint #{seq}: chain position #{count} is not {checkpoint['head_hash']}",
                )
        elif complete and by_seq and min(by_seq) <= count <= highest:
            result.add(
                "checkpoint_mismatch",
                f"checkpoint #{seq}: chain position #{count} is missing from the export",
            )
        elif complete and count > highest and end_of_period is not None:
            signed = datetime.fromisoformat(checkpoint["at"].replace("Z", "+00:00"))
            if signed < end_of_period:
                result.add(
                    "checkpoint_beyond_export",
                    f"checkpoint #{seq} signed {count} sealed transactions at {checkpoint['at']}, "
                    f"within the period, but the export ends at #{highest}: sealed history "
                    f"was deleted",
                )
    latest = known[seqs[-1]]
    result.notes.append(
        f"latest checkpoint #{latest['seq']}: {latest['sealed_count']} sealed, "
        f"head {latest['head_hash']}, at {latest['at']}"
    )


def _end_of_period(description: dict) -> datetime | None:
    try:
        zone = ZoneInfo(description.get("time_zone") or "UTC")
        last_day = date.fromisoformat(description["to"])
    except (KeyError, TypeError, ValueError, ZoneInfoNotFoundError):
        return None
    return datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=zone)


def _signature_ok(checkpoint: dict, public_key) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        signature = base64.b64decode(checkpoint.get("signature") or "", validate=True)
        public_key.verify(signature, checkpoint_message(checkpoint))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def load_public_key(path: str):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    with open(path, "rb") as handle:
        key = load_pem_public_key(handle.read())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def load_checkpoints(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", help="the export (.jsonl or .csv)")
    parser.add_argument("--public-key", required=True, help="the ledger's public key (PEM)")
    parser.add_argument(
        "--checkpoints",
        action="append",
        default=[],
        help="checkpoints you hold (JSON lines, e.g. the mailed ones); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        public_key = load_public_key(args.public_key)
        extra = [c for path in args.checkpoints for c in load_checkpoints(path)]
        records = read_export(args.export)
    except (OSError, ValueError, ExportUnreadable) as error:
        print(f"ERROR {error}", file=sys.stderr)
        return 2
    result = verify(records, public_key=public_key, extra_checkpoints=extra)
    entries = sum(1 for r in records if r["record"] == "entry")
    if args.json:
        print(
            json.dumps(
                {
                    "ok": not result.findings,
                    "entries": entries,
                    "findings": [{"code": c, "message": m} for c, m in result.findings],
                    "notes": result.notes,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for code, message in result.findings:
            print(f"FINDING [{code}] {message}")
        for note in result.notes:
            print(f"note: {note}")
        if not result.findings:
            print(f"OK: {entries} entries verified.")
    return 1 if result.findings else 0


if __name__ == "__main__":
    sys.exit(main())
