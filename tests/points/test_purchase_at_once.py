"""The common purchase in one statement (`_record_at_once`) against the general path of
`purchase_record`: the same rows, one round trip, and a fallback that writes nothing twice."""

import pytest
from django.utils import timezone

from points.models import (
    Account,
    LedgerEntry,
    LedgerTransaction,
    Notification,
    PointLot,
    Purchase,
    PurchaseLine,
)
from points.services import purchases
from points.services.accounts import member_account_code
from points.services.ledger import Overdraft, Posting, ledger_credit_at_once
from points.services.purchases import LineRequest, purchase_record
from tests.points.helpers import spend, standard

pytestmark = pytest.mark.django_db

LINES = [
    LineRequest(line_no=1, quantity=2, amount_fen=2560, sku="GREEN-NB-01"),
    LineRequest(line_no=2, quantity=1, amount_fen=500, category="pens"),
]


def buy(terminal, member, receipt_no, lines=LINES):
    return purchase_record(
        merchant=terminal.store.merchant,
        member=member,
        receipt_no=receipt_no,
        occurred_at=timezone.now(),
        terminal=terminal,
        lines=lines,
        actor="test",
    )


def general_path_only(monkeypatch):
    monkeypatch.setattr(purchases, "_record_at_once", lambda *args, **kwargs: False)


def written(purchase):
    """What recording `purchase` wrote, without the ids and times that differ between two."""
    member = purchase.member
    kinds = {a.pk: a.kind for a in Account.objects.filter(member=member)}
    stored = Purchase.objects.select_related("transaction").get(pk=purchase.pk)
    txn = stored.transaction
    header = (
        stored.receipt_no[-1],
        stored.store_id,
        stored.terminal_id,
        stored.total_fen,
        stored.points,
        stored.green_points,
        stored.carbon_saved_g,
        stored.source,
        (
            txn.kind,
            txn.reason,
            txn.actor,
            txn.breakdown,
            txn.merchant_id,
            txn.member_id == member.pk,
        ),
    )
    lines = list(
        PurchaseLine.objects.filter(purchase=stored)
        .order_by("id")
        .values_list(
            "line_no",
            "product_id",
            "category_id",
            "quantity",
            "amount_fen",
            "points",
            "green_points",
            "carbon_saved_g",
            "refunded_quantity",
        )
    )
    entries = [
        (kinds.get(e.account_id, e.account_id), e.points)
        for e in LedgerEntry.objects.filter(transaction=txn).order_by("id")
    ]
    lots = [
        (kinds[lot.account_id], lot.points, lot.remaining, lot.expires_at is None)
        for lot in PointLot.objects.filter(transaction=txn).order_by("id")
    ]
    balances = sorted((a.kind, a.balance, a.version) for a in Account.objects.filter(member=member))
    inbox = list(
        Notification.objects.filter(member=member)
        .order_by("id")
        .values_list("kind", "title", "body", "link", "email_status", "dedupe_key")
    )
    member.refresh_from_db()
    return header, lines, entries, lots, balances, inbox, member.last_activity_at is not None


def test_a_repeat_purchase_writes_exactly_what_the_general_path_writes(
    shop, make_member, monkeypatch, ledger_ok
):
    fast_member, general_member = make_member(), make_member()
    buy(shop, fast_member, "first-a")  # first purchases: the general path, with the bonus
    buy(shop, general_member, "first-b")

    fast = buy(shop, fast_member, "again-x")
    general_path_only(monkeypatch)
    general = buy(shop, general_member, "again-x")

    assert written(fast) == written(general)
    assert fast.points > 0 and fast.green_points > 0
    ledger_ok()


def test_a_repeat_purchase_is_one_statement(
    shop, make_member, django_assert_num_queries, django_capture_on_commit_callbacks
):
    member = make_member()
    with django_capture_on_commit_callbacks(execute=True):  # system accounts are remembered
        buy(shop, member, "first")  # on commit; the catalogue is now known too

    with django_assert_num_queries(1):
        purchase = buy(shop, member, "second")

    assert purchase.pk is not None and purchase.replayed is False and purchase.bonus is None
    assert purchase.balances == {
        Account.Kind.STANDARD: standard(member).balance,
        Account.Kind.GREEN: Account.objects.get(member=member, kind=Account.Kind.GREEN).balance,
    }


def test_a_first_purchase_takes_the_general_path_and_gets_its_bonus(shop, make_member, ledger_ok):
    member = make_member()

    purchase = buy(shop, member, "first")

    assert purchase.bonus is not None
    assert LedgerTransaction.objects.filter(member=member, kind="bonus").count() == 1
    ledger_ok()


def test_a_recorded_receipt_is_a_replay_that_writes_nothing(shop, make_member, ledger_ok):
    member = make_member()
    buy(shop, member, "first")
    original = buy(shop, member, "same")
    counts = (LedgerEntry.objects.count(), Purchase.objects.count(), Notification.objects.count())

    again = buy(shop, member, "same")

    assert (again.pk, again.replayed) == (original.pk, True)
    assert (
        LedgerEntry.objects.count(),
        Purchase.objects.count(),
        Notification.objects.count(),
    ) == counts
    ledger_ok()


def test_a_receipt_recorded_without_points_is_still_a_replay(shop, make_member, ledger_ok):
    member = make_member()
    buy(shop, member, "first")
    nothing = [LineRequest(line_no=1, quantity=1, amount_fen=50, category="pens")]
    original = buy(shop, member, "free", lines=nothing)
    assert original.transaction_id is None

    again = buy(shop, member, "free")  # same receipt, this time with points: not recorded twice

    assert (again.pk, again.replayed) == (original.pk, True)
    assert Purchase.objects.filter(receipt_no="free").count() == 1
    ledger_ok()


def test_a_member_in_debt_repays_it_through_the_general_path(shop, make_member, ledger_ok):
    member = make_member()
    buy(shop, member, "first")
    owed = standard(member).balance + 40
    spend(member, shop.store.merchant, owed, overdraft=Overdraft.ALLOW)
    assert standard(member).balance == -40

    purchase = buy(shop, member, "repay")

    lot = PointLot.objects.get(transaction=purchase.transaction, account=standard(member))
    assert lot.remaining == purchase.points - 40
    assert standard(member).balance == purchase.points - 40
    ledger_ok()


def test_a_credit_to_an_account_code_that_does_not_exist_writes_nothing(shop, make_member, issuer):
    member = make_member()
    nobody = Account(code=member_account_code(10**9, Account.Kind.STANDARD), kind="standard")
    counts = (LedgerTransaction.objects.count(), LedgerEntry.objects.count())

    txn = ledger_credit_at_once(
        kind=LedgerTransaction.Kind.EARN,
        idempotency_key="nobody",
        postings=[Posting(nobody, 10), Posting(issuer, -10)],
        member=member,
    )

    assert txn is None
    assert (LedgerTransaction.objects.count(), LedgerEntry.objects.count()) == counts


def test_an_account_of_another_member_writes_nothing_and_falls_back(
    shop, make_member, monkeypatch, ledger_ok
):
    member, other = make_member(), make_member()
    buy(shop, member, "first-m")
    buy(shop, other, "first-o")
    others_balance = standard(other).balance
    monkeypatch.setattr(  # as if the member's codes named the other member's accounts
        purchases, "member_account_code", lambda _member_id, kind: f"member:{other.pk}:{kind}"
    )

    purchase = buy(shop, member, "second")

    assert standard(other).balance == others_balance
    assert LedgerEntry.objects.filter(
        transaction=purchase.transaction, account=standard(member)
    ).exists()
    ledger_ok()


def test_the_email_of_a_member_with_an_address_is_queued_on_commit(
    shop, make_member, django_capture_on_commit_callbacks, monkeypatch
):
    member = make_member(email="li@example.com")
    buy(shop, member, "first")
    queued = []
    monkeypatch.setattr("points.services.notifications.queue_notification_email", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        buy(shop, member, "second")

    latest = Notification.objects.filter(member=member).order_by("-id").first()
    assert latest.email_status == Notification.EmailStatus.PENDING
    assert latest.title.startswith("积分到账")
    assert queued == [latest.pk]


def test_the_purchase_statement_stays_small_enough_for_psycopg_to_reuse_its_conversion(
    shop, make_member, monkeypatch
):
    # psycopg converts a statement's placeholders once per process only for statements of
    # at most 4 kB and 50 parameters; above that it converts again on every purchase.
    from psycopg import _queries

    from points.services import ledger

    built = []
    real = ledger._post_credits_statement

    def spy(*args):
        statement = real(*args)
        built.append(statement[0])
        return statement

    monkeypatch.setattr(ledger, "_post_credits_statement", spy)
    member = make_member()
    buy(shop, member, "first")

    buy(shop, member, "second")

    purchase_statement = max(built, key=len)
    assert "points_purchaseline" in purchase_statement
    assert len(purchase_statement.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH
    assert purchase_statement.count("%s") <= _queries.MAX_CACHED_STATEMENT_PARAMS
