"""The kind -> allowed accounts + document table is data others extend (points.reconciliation)."""

import pytest

from points.models import Account, LedgerTransaction
from points.reconciliation import KIND_RULES, KindRule, kind_rule_register
from points.selectors import ledger_verify
from points.services.accounts import member_account_code
from points.services.ledger import Posting, ledger_post
from tests.points.helpers import buy, standard

pytestmark = pytest.mark.django_db


@pytest.fixture
def restore_rules():
    saved = dict(KIND_RULES)
    yield
    KIND_RULES.clear()
    KIND_RULES.update(saved)


def test_every_kind_of_the_ledger_has_a_rule():
    assert set(LedgerTransaction.Kind.values) <= set(KIND_RULES)


def test_a_real_purchase_reconciles(make_member, merchant):
    buy(make_member(), merchant, 4200)

    assert ledger_verify().ok


def _raw_transaction(kind, member, postings):
    """Insert a transaction as the application role could, kind unchecked."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO points_ledgertransaction (kind, idempotency_key, member_id, reference,"
            " reason, actor, breakdown, created_at)"
            " VALUES (%s, %s, %s, '', '', 'system', '{}', now()) RETURNING id",
            [kind, f"{kind}-{member.pk}", member.pk],
        )
        txn_id = cursor.fetchone()[0]
        for account, points in postings:
            cursor.execute(
                "INSERT INTO points_ledgerentry (transaction_id, account_id, points)"
                " VALUES (%s, %s, %s)",
                [txn_id, account.pk, points],
            )
    return txn_id


def test_a_new_kind_is_named_until_it_registers_its_accounts_and_document(
    restore_rules, make_member, issuer
):
    """What a later kind does (as `green_activity` did): one call, one document check."""
    member = make_member()
    green = Account.objects.get(code=member_account_code(member.pk, "green"))
    txn_id = _raw_transaction("tree_bonus", member, [(green, 5), (issuer, -5)])

    assert {f.code for f in ledger_verify(reconcile=True).findings} >= {"unknown_kind"}

    def activity_document(txns):
        return [(pk, "no activity record") for pk in txns.values_list("id", flat=True)]

    kind_rule_register(
        "tree_bonus",
        KindRule(frozenset({"green", "green_issuance"}), activity_document, document_name="活动"),
    )
    report = ledger_verify()

    mine = {f.code for f in report.findings if f.transaction_id == txn_id}
    assert mine == {"account_not_allowed", "document_mismatch"}, report.problems
    assert any("no activity record" in problem for problem in report.problems)


def test_a_posting_to_an_account_its_kind_may_not_touch_is_named(make_member, issuer):
    member = make_member()
    ledger_post(
        kind="adjust",
        idempotency_key="adj-wrong-account",
        postings=[Posting(standard(member), 5), Posting(issuer, -5)],
        member=member,
    )

    codes = {f.code for f in ledger_verify().findings}

    assert "account_not_allowed" in codes and "document_mismatch" in codes
