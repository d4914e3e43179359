"""Signed checkpoints: a key outside the database, a file outside it, mail to the auditors."""

import base64
import io
import json
import stat

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import TestCase

from points.models import LedgerCheckpoint, LedgerSeal
from points.services.checkpoints import (
    SigningKeyMissing,
    checkpoint_file,
    checkpoint_message,
    checkpoint_record,
    signing_key,
)
from points.services.sealing import ledger_seal
from tests.points.helpers import earn

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_key(settings, tmp_path):
    settings.LEDGER_SIGNING_KEY_FILE = str(tmp_path / "keys" / "ledger.pem")
    settings.LEDGER_SIGNING_KEY_GENERATE = True
    return tmp_path / "keys" / "ledger.pem"


def seal():
    with TestCase.captureOnCommitCallbacks(execute=True):
        return ledger_seal()


def test_the_first_seal_generates_a_private_key_file_readable_by_its_owner_only(
    own_key, make_member, issuer
):
    earn(make_member(), issuer, 10)

    seal()

    assert own_key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(own_key.stat().st_mode) == 0o600
    checkpoint = LedgerCheckpoint.objects.get()
    public = signing_key().public_key()
    public.verify(
        base64.b64decode(checkpoint.signature),
        checkpoint_message(checkpoint_record(checkpoint)),
    )


def test_without_a_key_where_generating_is_off_sealing_says_so(
    own_key, settings, make_member, issuer
):
    settings.LEDGER_SIGNING_KEY_GENERATE = False
    earn(make_member(), issuer, 10)

    with pytest.raises(CommandError, match="LEDGER_SIGNING_KEY_FILE"):
        call_command("seal_ledger", stdout=io.StringIO())

    assert LedgerSeal.objects.count() == 1  # the chain still grew
    assert not own_key.exists() and LedgerCheckpoint.objects.count() == 0
    with pytest.raises(SigningKeyMissing):
        signing_key()


def test_each_checkpoint_is_appended_to_the_file_and_mailed_to_the_auditors(
    own_key, settings, make_member, issuer
):
    settings.AUDITOR_EMAILS = ["auditor@example.gov.cn", "second@example.com"]
    member = make_member()
    earn(member, issuer, 10)
    seal()
    earn(member, issuer, 20)
    seal()

    lines = [json.loads(line) for line in checkpoint_file().read_text().splitlines()]
    stored = [checkpoint_record(c) for c in LedgerCheckpoint.objects.order_by("seq")]
    assert lines == stored and [c["seq"] for c in lines] == [1, 2]
    assert [c["sealed_count"] for c in lines] == [1, 2]
    assert len(mail.outbox) == 2
    assert mail.outbox[1].to == settings.AUDITOR_EMAILS
    assert json.dumps(stored[1], ensure_ascii=False, sort_keys=True) in mail.outbox[1].body


def test_no_checkpoint_when_the_head_did_not_move(own_key, make_member, issuer):
    earn(make_member(), issuer, 10)
    seal()
    seal()

    assert LedgerCheckpoint.objects.count() == 1
    assert len(checkpoint_file().read_text().splitlines()) == 1


def test_no_mail_without_auditor_addresses(own_key, settings, make_member, issuer):
    settings.AUDITOR_EMAILS = []
    earn(make_member(), issuer, 10)
    seal()

    assert mail.outbox == [] and LedgerCheckpoint.objects.count() == 1


def test_ledger_public_key_prints_the_pem_that_verifies_checkpoints(own_key, make_member, issuer):
    earn(make_member(), issuer, 10)
    seal()
    out, err = io.StringIO(), io.StringIO()

    call_command("ledger_public_key", stdout=out, stderr=err)

    key = load_pem_public_key(out.getvalue().encode())
    checkpoint = LedgerCheckpoint.objects.get()
    key.verify(
        base64.b64decode(checkpoint.signature),
        checkpoint_message(checkpoint_record(checkpoint)),
    )
    assert checkpoint.key_id in err.getvalue()


def test_ledger_public_key_without_a_key_is_one_clear_error(own_key, settings):
    settings.LEDGER_SIGNING_KEY_GENERATE = False

    with pytest.raises(CommandError, match="No ledger signing key"):
        call_command("ledger_public_key", stdout=io.StringIO(), stderr=io.StringIO())


def test_a_key_file_that_is_not_an_ed25519_key_is_refused(own_key):
    own_key.parent.mkdir(parents=True)
    own_key.write_bytes(b"not a key")

    with pytest.raises(CommandError):
        call_command("ledger_public_key", stdout=io.StringIO(), stderr=io.StringIO())


def test_seed_demo_seals_and_signs_so_make_run_verifies(own_key, capsys):
    call_command("seed_demo")

    assert LedgerSeal.objects.exists() and LedgerCheckpoint.objects.count() == 1
    assert "Sealed" in capsys.readouterr().out
