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
from points.services import accounts as account_service
from points.services import purchases
from points.services.accounts import member_account_ids
from points.services.ledger import Overdraft
from points.services.purchases import LineRequest, purchase_record
from tests.points.helpers import spend, standard

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

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
    member_account_ids(member)  # as after any earlier purchase in this process

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
    nothing = [LineRequest(line_no=1, quantity=1, amount_fen=0, category="pens")]
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


def test_remembered_account_ids_of_someone_else_write_nothing_and_fall_back(
    shop, make_member, ledger_ok
):
    member, other = make_member(), make_member()
    buy(shop, member, "first-m")
    buy(shop, other, "first-o")
    others_balance = standard(other).balance
    account_service._member_account_ids[member.pk] = member_account_ids(other)  # a wrong entry

    purchase = buy(shop, member, "second")

    assert standard(other).balance == others_balance
    assert LedgerEntry.objects.filter(
        transaction=purchase.transaction, account=standard(member)
    ).exists()
    own = {a.kind: a.pk for a in Account.objects.filter(member=member)}
    assert account_service._member_account_ids[member.pk] == own  # corrected
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
