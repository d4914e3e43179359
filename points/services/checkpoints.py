"""Signed checkpoints of the seal chain, kept outside the database too (docs/audit.md).

A checkpoint says: "the chain's first `sealed_count` seals end in `head_hash`", signed with
an Ed25519 key read from LEDGER_SIGNING_KEY_FILE (the database never holds it). Each is
stored in LedgerCheckpoint, appended to LEDGER_CHECKPOINT_DIR/checkpoints.jsonl and mailed
to AUDITOR_EMAILS. Anyone with the public key (`manage.py ledger_public_key`) can check it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from points.models import LedgerCheckpoint, LedgerSeal
from points.services.sealing import canonical_json, seal_lock_acquire, utc_text

CHECKPOINT_FILE_NAME = "checkpoints.jsonl"
SIGNED_FIELDS = ("seq", "head_hash", "sealed_count", "at")


class SigningKeyMissing(Exception):
    """LEDGER_SIGNING_KEY_FILE does not exist and may not be generated here."""


def _key_path() -> Path:
    return Path(settings.LEDGER_SIGNING_KEY_FILE)


def signing_key(*, generate: bool | None = None) -> Ed25519PrivateKey:
    """The checkpoint signing key; generated (0600, PEM) on first use where allowed."""
    path = _key_path()
    if generate is None:
        generate = settings.LEDGER_SIGNING_KEY_GENERATE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not generate:
            raise SigningKeyMissing(f"No ledger signing key at {path}.") from None
        data = _generate_key_file(path)
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyMissing(f"{path} does not hold an Ed25519 private key.")
    return key


def _generate_key_file(path: Path) -> bytes:
    data = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: two first runs at once keep one key, the one written first
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return data


def public_key() -> Ed25519PublicKey:
    return signing_key(generate=None).public_key()


def public_key_pem(key: Ed25519PublicKey | None = None) -> str:
    key = key or public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def key_id(key: Ed25519PublicKey) -> str:
    """First 16 hex digits of sha256 over the 32 raw public-key bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_message(checkpoint: dict) -> bytes:
    """The signed bytes: canonical JSON of seq, head_hash, sealed_count and at."""
    return canonical_json({name: checkpoint[name] for name in SIGNED_FIELDS}).encode("utf-8")


def checkpoint_record(checkpoint: LedgerCheckpoint) -> dict:
    """A checkpoint as exported, mailed and appended to the checkpoint file."""
    return {
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "sealed_count": checkpoint.sealed_count,
        "at": utc_text(checkpoint.at),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def checkpoint_signature_ok(record: dict, key: Ed25519PublicKey) -> bool:
    try:
        key.verify(base64.b64decode(record["signature"], validate=True), checkpoint_message(record))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def checkpoint_sign() -> LedgerCheckpoint | None:
    """Sign a checkpoint of the chain's head when it moved since the last one."""
    key = signing_key()
    with transaction.atomic():
        seal_lock_acquire()  # the head cannot move while it is being signed
        sealed_count = LedgerSeal.objects.count()
        if not sealed_count:
            return None
        last = LedgerCheckpoint.objects.order_by("-seq").first()
        if last is not None and last.sealed_count == sealed_count:
            return None
        head = LedgerSeal.objects.order_by("-id").only("hash").first()
        at = timezone.now()
        record = {
            "seq": (last.seq + 1) if last else 1,
            "head_hash": head.hash,
            "sealed_count": sealed_count,
            "at": utc_text(at),
        }
        signature = base64.b64encode(key.sign(checkpoint_message(record))).decode("ascii")
        checkpoint = LedgerCheckpoint.objects.create(
            seq=record["seq"],
            head_hash=record["head_hash"],
            sealed_count=sealed_count,
            at=at,
            key_id=key_id(key.public_key()),
            signature=signature,
        )
        transaction.on_commit(lambda: _publish(checkpoint_record(checkpoint)))
    return checkpoint


def checkpoint_file() -> Path:
    return Path(settings.LEDGER_CHECKPOINT_DIR) / CHECKPOINT_FILE_NAME


def _publish(record: dict) -> None:
    """Append to the checkpoint file and mail the auditors (after the commit)."""
    line = json.dumps(record, ensure_ascii=False, sort_keys=True)
    path = checkpoint_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    if settings.AUDITOR_EMAILS:
        send_mail(
            subject=f"Jifen ledger checkpoint #{record['seq']}",
            message=(
                "A new signed checkpoint of the Jifen points ledger (docs/audit.md).\n"
                "Keep it: tools/verify_export.py --checkpoints checks exports against it.\n\n"
                + line
                + "\n"
            ),
            from_email=None,
            recipient_list=list(settings.AUDITOR_EMAILS),
            fail_silently=True,
        )


def checkpoints_from_file() -> tuple[list[dict], list[str]]:
    """The checkpoints appended to the file (and a problem per unreadable line)."""
    path = checkpoint_file()
    records, problems = [], []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return [], []
    except OSError as error:
        return [], [f"cannot read {path}: {error.strerror}"]
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError
        except ValueError:
            problems.append(f"{path} line {number} is not a checkpoint")
            continue
        records.append(record)
    return records, problems


def all_checkpoints() -> tuple[list[dict], list[tuple[str, str]]]:
    """Every checkpoint known (the database's and the file's), and what is wrong with them.

    Findings: an unreadable file line, a bad signature, a checkpoint in the file but not in
    the database (deleted) or different there (rewritten), a gap in the database's sequence.
    """
    findings: list[tuple[str, str]] = []
    stored = [checkpoint_record(c) for c in LedgerCheckpoint.objects.order_by("seq")]
    filed, problems = checkpoints_from_file()
    findings += [("checkpoint_file_unreadable", problem) for problem in problems]
    if not stored and not filed:
        return [], findings
    try:
        key = public_key()
    except (SigningKeyMissing, ValueError, OSError) as error:
        findings.append(("checkpoint_key_missing", f"cannot check signatures: {error}"))
        key = None
    by_seq = {record["seq"]: record for record in stored}
    records = list(stored)
    for record in filed:
        seq = record.get("seq")
        if seq not in by_seq:
            findings.append(
                (
                    "checkpoint_deleted",
                    f"checkpoint #{seq} is in {checkpoint_file()} but not in the database",
                )
            )
            records.append(record)
        elif {k: by_seq[seq].get(k) for k in SIGNED_FIELDS} != {
            k: record.get(k) for k in SIGNED_FIELDS
        }:
            findings.append(
                (
                    "checkpoint_altered",
                    f"checkpoint #{seq} in the database differs from {checkpoint_file()}",
                )
            )
            records.append(record)
    expected = 1
    for record in stored:
        if record["seq"] != expected:
            findings.append(
                (
                    "checkpoint_gap",
                    f"checkpoints #{expected}..#{record['seq'] - 1} are missing from the database",
                )
            )
        expected = record["seq"] + 1
    if key is not None:
        for record in records:
            if not checkpoint_signature_ok(record, key):
                findings.append(
                    (
                        "checkpoint_signature_invalid",
                        f"checkpoint #{record.get('seq')}: the signature does not verify",
                    )
                )
    return records, findings
