"""`import_purchases`: historical purchases from CSV, set-based on PostgreSQL."""

import csv
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from merchants.models import Campaign, Category, Merchant, Product
from points.models import (
    Account,
    LedgerEntry,
    LedgerTransaction,
    Member,
    PointLot,
    Purchase,
    PurchaseLine,
)
from points.services.imports import COLUMNS, purchases_import
from points.services.ledger import Overdraft, add_months
from points.services.purchases import LineRequest, purchase_record
from tests.points.helpers import reverse, spend, standard

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
WHEN = "2024-09-02T10:30:00+08:00"  # inside the back-to-school campaign


@pytest.fixture
def catalog(merchant):
    """The demo-like catalogue: notebooks (×2 campaign in September 2024), pens, a green SKU."""
    notebooks = Category.objects.create(merchant=merchant, name="Notebooks", slug="notebooks")
    Category.objects.create(merchant=merchant, name="Pens", slug="pens", multiplier=Decimal("1.50"))
    Product.objects.create(
        merchant=merchant,
        sku="GREEN-NB-01",
        name="Recycled notebook",
        category=notebooks,
        price_fen=1290,
        is_green=True,
        carbon_saved_g=300,
    )
    campaign = Campaign.objects.create(
        merchant=merchant,
        name="Back to school",
        starts_on=date(2024, 9, 1),
        ends_on=date(2024, 9, 30),
        multiplier=Decimal("2.00"),
        cap_per_order=500,
    )
    campaign.categories.add(notebooks)
    other = Merchant.objects.create(name="绿叶生活 Test", slug="greenleaf-test", points_per_yuan=2)
    Category.objects.create(merchant=other, name="Groceries", slug="groceries")
    return merchant


def write_csv(path, rows, header=COLUMNS):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def row(member, receipt, *, sku="", category="", qty=1, amount=1000, when=WHEN, m="chenguang-test"):
    return [m, member.member_no, receipt, when, sku, category, qty, amount]


def read_rejects(path):
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def import_file(path, **kwargs):
    kwargs.setdefault("progress", False)
    return purchases_import(path=path, **kwargs)


def earn_rows(txn):
    """What an earn wrote, independent of ids and receipt numbers."""
    entries = [
        (e.account.kind, e.points)
        for e in LedgerEntry.objects.filter(transaction=txn).select_related("account")
    ]
    lots = [
        (lot.account.kind, lot.points, lot.remaining, lot.expires_at)
        for lot in PointLot.objects.filter(transaction=txn).select_related("account")
    ]
    return txn.kind, txn.reason, txn.breakdown, entries, lots


def ten_thousand_rows(members, seed=7):
    """About 4,000 receipts of 1-4 lines over both merchants, rows of a receipt interleaved."""
    rng = random.Random(seed)
    start = datetime(2024, 8, 15, 9, 0, tzinfo=SHANGHAI)
    rows, receipt = [], 0
    while len(rows) < 10_000:
        receipt += 1
        member = rng.choice(members)
        when = (start + timedelta(minutes=rng.randrange(60 * 24 * 60))).isoformat()
        green = rng.random() < 0.5
        merchant = "chenguang-test" if green else "greenleaf-test"
        for _ in range(min(rng.randint(1, 4), 10_000 - len(rows))):
            if merchant == "greenleaf-test":
                line = {"category": "groceries"}
            else:
                line = rng.choice(
                    [{"sku": "GREEN-NB-01"}, {"category": "notebooks"}, {"category": "pens"}]
                )
            rows.append(
                row(
                    member,
                    f"R{receipt:06d}",
                    m=merchant,
                    when=when,
                    qty=rng.randint(1, 5),
                    amount=rng.randint(1, 500_000),
                    **line,
                )
            )
    # Lines of a receipt need not be adjacent: swap some neighbours across receipts.
    for index in range(0, len(rows) - 1, 7):
        rows[index], rows[index + 1] = rows[index + 1], rows[index]
    return rows


def test_ten_thousand_rows_imported_twice_the_second_run_adds_nothing(
    catalog, make_member, tmp_path, ledger_ok
):
    members = [make_member() for _ in range(40)]
    path = write_csv(tmp_path / "history.csv", ten_thousand_rows(members))

    first = import_file(path, batch_rows=3_000)
    counts = (
        Purchase.objects.count(),
        PurchaseLine.objects.count(),
        LedgerTransaction.objects.count(),
        LedgerEntry.objects.count(),
        PointLot.objects.count(),
    )
    balances = list(Account.objects.order_by("pk").values_list("balance", "version"))
    second = import_file(path, batch_rows=3_000)

    assert first.rows == second.rows == 10_000
    assert first.lines == 10_000 and first.rejected_rows == 0
    assert first.purchases == counts[0] > 2_500
    assert second.purchases == 0 and second.already_recorded == first.purchases
    assert (
        Purchase.objects.count(),
        PurchaseLine.objects.count(),
        LedgerTransaction.objects.count(),
        LedgerEntry.objects.count(),
        PointLot.objects.count(),
    ) == counts
    assert list(Account.objects.order_by("pk").values_list("balance", "version")) == balances
    total = sum(Purchase.objects.values_list("points", flat=True))
    assert first.points == total == sum(standard(m).balance for m in members)
    ledger_ok()


def test_imported_purchase_has_the_rows_purchase_record_writes(
    catalog, make_member, tmp_path, ledger_ok, settings
):
    settings.POINTS_EXPIRY_MONTHS = 12
    importer, recorder = make_member(), make_member()
    lines = [
        {"sku": "GREEN-NB-01", "qty": 3, "amount": 3870},
        {"category": "pens", "qty": 2, "amount": 1999},
        {"category": "notebooks", "qty": 1, "amount": 60_000},
    ]
    path = write_csv(tmp_path / "one.csv", [row(importer, "IMP-1", **line) for line in lines])

    import_file(path)
    recorded = purchase_record(
        merchant=catalog,
        member=recorder,
        receipt_no="API-1",
        occurred_at=datetime.fromisoformat(WHEN),
        lines=[
            LineRequest(
                line_no=n,
                quantity=line["qty"],
                amount_fen=line["amount"],
                sku=line.get("sku"),
                category=line.get("category"),
            )
            for n, line in enumerate(lines, start=1)
        ],
        actor="import",
    )

    imported = Purchase.objects.get(receipt_no="IMP-1")
    assert imported.source == Purchase.Source.IMPORT
    assert (imported.points, imported.green_points, imported.carbon_saved_g) == (
        recorded.points,
        recorded.green_points,
        recorded.carbon_saved_g,
    )
    assert imported.points > 0 and imported.green_points == 9
    line_fields = ("line_no", "product", "category", "quantity", "amount_fen", "points")
    assert list(imported.lines.values_list(*line_fields, "green_points")) == list(
        recorded.lines.values_list(*line_fields, "green_points")
    )
    assert imported.transaction.idempotency_key == f"purchase:{catalog.pk}:IMP-1"
    imported_rows, recorded_rows = earn_rows(imported.transaction), earn_rows(recorded.transaction)
    assert imported_rows[:4] == recorded_rows[:4]
    # Lots alike but for the expiry, which runs from each posting's own time.
    assert [lot[:3] for lot in imported_rows[4]] == [lot[:3] for lot in recorded_rows[4]]
    standard_lot = PointLot.objects.get(
        transaction=imported.transaction, account__kind=Account.Kind.STANDARD
    )
    assert standard_lot.expires_at == add_months(imported.transaction.created_at, 12)
    assert standard(importer).balance == imported.points
    assert standard(importer).version == 1
    ledger_ok()


def test_import_grants_no_first_purchase_bonus(catalog, make_member, tmp_path):
    member = make_member()
    path = write_csv(tmp_path / "one.csv", [row(member, "R1", category="pens")])

    import_file(path)

    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.BONUS).exists()
    assert standard(member).balance == Purchase.objects.get().points == 15


def test_last_activity_moves_to_the_latest_imported_purchase_only_when_newer(
    catalog, make_member, tmp_path
):
    recent, dormant = make_member(), make_member()
    recent_activity = datetime(2025, 1, 1, tzinfo=SHANGHAI)
    Member.objects.filter(pk=recent.pk).update(last_activity_at=recent_activity)
    path = write_csv(
        tmp_path / "h.csv",
        [
            row(recent, "R1", category="pens", when="2024-09-02T10:00:00+08:00"),
            row(dormant, "R2", category="pens", when="2024-09-03T10:00:00+08:00"),
            row(dormant, "R3", category="pens", when="2024-09-01T10:00:00+08:00"),
        ],
    )

    import_file(path)

    recent.refresh_from_db()
    dormant.refresh_from_db()
    assert recent.last_activity_at == recent_activity
    assert dormant.last_activity_at == datetime.fromisoformat("2024-09-03T10:00:00+08:00")


def test_campaign_names_with_tabs_backslashes_and_newlines_go_in_as_written(
    catalog, make_member, tmp_path, ledger_ok
):
    Campaign.objects.filter(merchant=catalog).update(name='Back\\to "school"\tnow\nand \\N')
    member = make_member()
    receipts = ["R-1", "R/2", "R:3.x", "N", "5_6"]
    path = write_csv(
        tmp_path / "odd.csv", [row(member, receipt, category="notebooks") for receipt in receipts]
    )

    summary = import_file(path)

    assert summary.purchases == 5 and summary.rejected_rows == 0
    assert sorted(Purchase.objects.values_list("receipt_no", flat=True)) == sorted(receipts)
    for receipt in receipts:
        txn = Purchase.objects.get(receipt_no=receipt).transaction
        assert txn.reference == receipt
        assert txn.idempotency_key == f"purchase:{catalog.pk}:{receipt}"
        factors = txn.breakdown["lines"][0]["factors"]
        assert factors[-1]["name"] == 'Back\\to "school"\tnow\nand \\N'
    ledger_ok()


def test_receipt_numbers_with_tabs_backslashes_newlines_or_hanzi_are_rejected_as_by_the_api(
    catalog, make_member, tmp_path, ledger_ok
):
    member = make_member()
    receipts = ["R\t1", "R\\2", "R\n3", "\\N", "R\r5", "雨-6", "-7", "R" * 65]
    path = write_csv(
        tmp_path / "odd.csv", [row(member, receipt, category="notebooks") for receipt in receipts]
    )

    summary = import_file(path)

    assert (summary.purchases, summary.rejected_purchases) == (0, len(receipts))
    reasons = [r["reason"] for r in read_rejects(tmp_path / "odd.rejects.csv")]
    assert reasons and all(reason.startswith("receipt_no: ") for reason in reasons)
    assert not Purchase.objects.exists()
    ledger_ok()


def test_a_member_in_debt_has_the_debt_repaid_first(catalog, make_member, tmp_path, ledger_ok):
    member = make_member()
    first = write_csv(tmp_path / "a.csv", [row(member, "R1", category="pens", amount=10_000)])
    import_file(first)  # 150 points
    spend(member, catalog, 150)
    reverse(Purchase.objects.get().transaction, overdraft=Overdraft.ALLOW)  # a refund's debt
    assert standard(member).balance == -150
    second = write_csv(tmp_path / "b.csv", [row(member, "R2", category="pens", amount=20_000)])

    summary = import_file(second)

    assert summary.purchases == 1
    assert standard(member).balance == 150
    assert PointLot.objects.get(transaction__purchase__receipt_no="R2").remaining == 150
    ledger_ok()


BAD_ROWS = [
    ("unknown sku", {"sku": "NOPE"}, "unknown sku"),
    ("unknown category", {"category": "toys"}, "unknown category"),
    ("both sku and category", {"sku": "GREEN-NB-01", "category": "pens"}, "sku: "),
    ("neither sku nor category", {}, "sku: "),
    ("zero amount", {"category": "pens", "amount": 0}, "amount_fen: "),
    ("negative amount", {"category": "pens", "amount": -500}, "not a positive whole number"),
    ("fractional amount", {"category": "pens", "amount": "12.50"}, "not a positive whole"),
    ("huge amount", {"category": "pens", "amount": 10**9 + 1}, "amount_fen: "),
    ("zero quantity", {"category": "pens", "qty": 0}, "quantity: "),
    ("huge quantity", {"category": "pens", "qty": 100_001}, "quantity: "),
    ("future date", {"category": "pens", "when": "2999-01-01T00:00:00+08:00"}, "occurred_at: "),
    ("no offset", {"category": "pens", "when": "2024-09-02T10:30:00"}, "no UTC offset"),
    ("not a date", {"category": "pens", "when": "yesterday"}, "not an ISO 8601"),
]


@pytest.mark.parametrize(("case", "fields", "reason"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_a_bad_row_rejects_its_whole_receipt_and_good_rows_go_in(
    catalog, make_member, tmp_path, ledger_ok, case, fields, reason
):
    member = make_member()
    path = write_csv(
        tmp_path / "mixed.csv",
        [
            row(member, "GOOD-1", category="pens"),
            row(member, "BAD-1", category="notebooks"),
            row(member, "BAD-1", **fields),
            row(member, "GOOD-2", sku="GREEN-NB-01", qty=2),
        ],
    )

    summary = import_file(path)

    assert sorted(Purchase.objects.values_list("receipt_no", flat=True)) == ["GOOD-1", "GOOD-2"]
    assert (summary.purchases, summary.rejected_purchases, summary.rejected_rows) == (2, 1, 2)
    rejects = read_rejects(tmp_path / "mixed.rejects.csv")
    assert [(r["receipt_no"], r["line"]) for r in rejects] == [("BAD-1", "3"), ("BAD-1", "4")]
    assert reason in rejects[1]["reason"]
    assert rejects[0]["reason"].startswith("rejected with line 4 of the same receipt")
    ledger_ok()


def test_unknown_merchant_or_member_wrong_column_count_and_bad_utf8_lines_are_rejected(
    catalog, make_member, tmp_path
):
    member = make_member()
    path = tmp_path / "raw.csv"
    good = f"chenguang-test,{member.member_no},R1,{WHEN},,pens,1,1000\n"
    path.write_bytes(
        (",".join(COLUMNS) + "\n" + good).encode()
        + f"chenguang-test,M99999999,R2,{WHEN},,pens,1,1000\n".encode()
        + f"chenguang-test,{member.member_no},R3,{WHEN},,pens,1\n".encode()
        + f"chenguang-test,{member.member_no},R4,{WHEN},,pens,1,1000,extra\n".encode()
        + f"chenguang-test,{member.member_no},R5,{WHEN},,笔,1,1000\n".encode("gbk")
        + f"no-such-shop,{member.member_no},R6,{WHEN},,pens,1,1000\n".encode()
        + b"\n"
    )

    summary = import_file(path, rejects_path=tmp_path / "rej.csv")

    assert list(Purchase.objects.values_list("receipt_no", flat=True)) == ["R1"]
    reasons = {r["receipt_no"]: r["reason"] for r in read_rejects(tmp_path / "rej.csv")}
    assert reasons == {
        "R2": "unknown member 'M99999999'",
        "R3": "expected 8 columns, found 7",
        "R4": "expected 8 columns, found 9",
        "R5": "the line is not valid UTF-8",
        "R6": "unknown merchant 'no-such-shop'",
    }
    assert summary.rows == 6


def test_rows_of_one_receipt_must_agree_on_member_and_time(catalog, make_member, tmp_path):
    one, other = make_member(), make_member()
    path = write_csv(
        tmp_path / "h.csv",
        [
            row(one, "R1", category="pens"),
            row(other, "R1", category="pens"),
            row(one, "R2", category="pens"),
            row(one, "R2", category="pens", when="2024-09-02T11:30:00+08:00"),
        ],
    )

    summary = import_file(path)

    assert summary.rejected_purchases == 2 and not Purchase.objects.exists()
    reasons = [r["reason"] for r in read_rejects(tmp_path / "h.rejects.csv")]
    assert "different members" in reasons[1] and "different occurred_at" in reasons[3]


def test_command_prints_a_summary_and_names_the_rejects_file(
    catalog, make_member, tmp_path, capsys
):
    member = make_member()
    path = write_csv(
        tmp_path / "h.csv",
        [row(member, "R1", category="pens"), row(member, "R2", category="toys")],
    )

    call_command("import_purchases", str(path), "--no-progress")

    out = capsys.readouterr().out
    assert "imported 1 purchases" in out and "1 purchases (1 rows) rejected" in out
    assert str(tmp_path / "h.rejects.csv") in out


def test_command_shows_a_progress_bar_on_stderr(catalog, make_member, tmp_path, capsys):
    member = make_member()
    path = write_csv(tmp_path / "h.csv", [row(member, "R1", category="pens")])

    call_command("import_purchases", str(path))

    assert "import_purchases: 100%" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file"),
        ("dir", "is a directory"),
        (b"", "is empty"),
        (b"\xff\xfem\x00e\x00r\x00", "is not UTF-8"),
        (b"merchant,member_no,receipt_no\nchenguang-test,M1,R1\n", "wrong header"),
        (",".join(COLUMNS).encode() + b"\n" + "商户,会员,票".encode("gbk") + b"\n", "not UTF-8"),
    ],
    ids=["missing", "directory", "empty", "utf-16", "wrong-header", "gbk"],
)
def test_unreadable_file_fails_with_one_clear_line(tmp_path, content, message):
    path = tmp_path / "in.csv"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)

    with pytest.raises(CommandError, match=message) as raised:
        call_command("import_purchases", str(path), "--no-progress")

    assert "\n" not in str(raised.value)
    assert not Purchase.objects.exists()


def test_bad_batch_size_is_refused(tmp_path):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("import_purchases", str(tmp_path / "x.csv"), "--batch-size", "0")


def test_bulk_earn_refuses_an_account_in_debt_and_writes_nothing(make_member, issuer):
    from django.db import connection

    from points.services.ledger import (
        EARN_STAGING_COLUMNS,
        MemberAccountInDebt,
        ledger_bulk_earn_from_staging,
    )

    member = make_member()
    account = standard(member)
    Account.objects.filter(pk=account.pk).update(balance=-5)  # as a refund's debt leaves it
    with connection.cursor() as cursor:
        columns = ", ".join(f"{name} {kind}" for name, kind in EARN_STAGING_COLUMNS.items())
        cursor.execute(f"CREATE TEMP TABLE stage ({columns})")
        cursor.execute(
            "INSERT INTO stage VALUES (nextval(pg_get_serial_sequence("
            "'points_ledgertransaction', 'id')), 'k-1', NULL, %s, 'R1', '{}', 10, %s, %s, 0, "
            "NULL, NULL)",
            [member.pk, account.pk, issuer.pk],
        )

        with pytest.raises(MemberAccountInDebt):
            ledger_bulk_earn_from_staging(staging_table="stage", reason="purchase")

    assert not LedgerTransaction.objects.exists()
    assert standard(member).balance == -5
