"""The audit-trail export: one row per entry, running balances from the database, a BOM for
Excel, constant memory, one snapshot, and a log of every export."""

import csv
import hashlib
import io
import json
import threading
import tracemalloc
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from points.models import Account, LedgerEntry, LedgerTransaction
from points.services.accounts import issuance_account
from reports.audit import COLUMNS, BadFilter, audit_filters
from reports.models import AuditExport
from reports.services import audit as audit_service
from reports.services.audit import audit_export, audit_export_to_file
from tests.points.helpers import spend
from tests.reports.conftest import buy, refund

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate().isoformat()


def rows_of(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def entry_rows(data: bytes) -> list[list[str]]:
    """The CSV's entry records (not its header, export record or checkpoints)."""
    return [row for row in rows_of(data)[1:] if row[0] == "entry"]


@pytest.fixture
def trail(shop_a, shop_b, make_member):
    """A month of activity: purchases, a refund and redemptions by two members."""
    ann, bob = make_member(), make_member()
    now = timezone.now()
    first = buy(ann, shop_a, [("GREEN-NB-01", 3, 3840), ("pens", 2, 700)], now)
    buy(bob, shop_b, [("tea", 2, 6000)], now)
    buy(ann, shop_b, [("notebooks", 1, 2000)], now)
    refund(first, line_no=2, quantity=1)
    spend(ann, shop_b, 40)
    spend(bob, shop_a, 25)
    return {"ann": ann, "bob": bob}


def export_bytes(**filters) -> tuple[bytes, AuditExport]:
    filters.setdefault("date_from", today())
    filters.setdefault("date_to", today())
    file_format = filters.pop("file_format", "csv")
    out = io.BytesIO()
    log = audit_export_to_file(
        filters=audit_filters(**filters), file_format=file_format, out=out, actor="test"
    )
    return out.getvalue(), log


def test_one_row_per_ledger_entry_with_a_chinese_header_and_a_bom(trail):
    data, log = export_bytes()

    rows = rows_of(data)
    header = dict(zip(COLUMNS, rows[0], strict=True))
    assert (header["transaction_id"], header["hash"], header["kind_label"]) == (
        "交易号",
        "封存哈希",
        "类型",
    )
    entries = entry_rows(data)
    assert len(entries) == LedgerEntry.objects.count() == log.row_count
    assert rows[1][0] == "export"  # what the file holds comes first
    assert entries[0][COLUMNS.index("posted_at")].endswith("+08:00")  # Asia/Shanghai


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"member": "ann"}, lambda t: LedgerEntry.objects.filter(transaction__member=t["ann"])),
        (
            {"merchant": "shop-b"},
            lambda t: LedgerEntry.objects.filter(transaction__merchant__slug="shop-b"),
        ),
        ({"kind": "redeem"}, lambda t: LedgerEntry.objects.filter(transaction__kind="redeem")),
        (
            {"member": "bob", "kind": "earn"},
            lambda t: LedgerEntry.objects.filter(
                transaction__member=t["bob"], transaction__kind="earn"
            ),
        ),
    ],
)
def test_row_count_equals_the_entries_the_filter_selects(trail, filters, expected):
    filters = {k: (trail[v].member_no if k == "member" else v) for k, v in filters.items()}

    data, log = export_bytes(**filters)

    assert len(entry_rows(data)) == expected(trail).count() == log.row_count > 0


def test_a_range_before_the_activity_is_empty(trail):
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    data, log = export_bytes(date_from="2020-01-01", date_to=yesterday)
    assert len(entry_rows(data)) == 0 and log.row_count == 0


def test_balance_after_ends_at_each_accounts_balance(trail):
    data, _ = export_bytes()

    last = {}
    for row in entry_rows(data):
        last[row[COLUMNS.index("account")]] = int(row[COLUMNS.index("balance_after")])
    for account in Account.objects.filter(member__isnull=False):
        if account.entries.exists():
            assert last[account.code] == account.balance, account.code
    issuer = issuance_account(trail["ann"].purchases.first().merchant)
    assert last[issuer.code] == sum(issuer.entries.values_list("points", flat=True))


def test_balance_after_counts_history_before_the_filtered_range(shop_a, make_member):
    member = make_member()
    buy(member, shop_a, [("pens", 1, 10000)], timezone.now())
    old = LedgerTransaction.objects.get(kind="earn")
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    spend_txn = spend(member, shop_a, 30, created_at=timezone.now() + timedelta(days=1))

    data, _ = export_bytes(date_from=tomorrow, date_to=tomorrow)

    rows = entry_rows(data)
    assert [int(r[COLUMNS.index("transaction_id")]) for r in rows] == [spend_txn.pk, spend_txn.pk]
    standard = Account.objects.get(member=member, kind="standard")
    mine = next(r for r in rows if r[COLUMNS.index("account")] == standard.code)
    assert int(mine[COLUMNS.index("balance_after")]) == standard.balance
    assert old.pk < spend_txn.pk


def test_jsonl_has_one_object_per_entry(trail):
    data, log = export_bytes(file_format="jsonl")

    records = [json.loads(line) for line in data.decode().splitlines()]
    entries = [r for r in records if r["record"] == "entry"]
    assert len(entries) == LedgerEntry.objects.count() == log.row_count
    assert all(list(record) == COLUMNS for record in records)
    assert isinstance(entries[0]["balance_after"], int)


def test_the_export_log_row_has_the_sha256_of_what_was_sent(trail, staff_client, platform_staff):
    response = staff_client.post(
        "/staff/audit/export/",
        {
            "date_from": today(),
            "date_to": today(),
            "member": trail["ann"].member_no,
            "file_format": "csv",
        },
    )

    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content)
    log = AuditExport.objects.get(pk=response["X-Audit-Export-Id"])
    assert log.sha256 == hashlib.sha256(body).hexdigest()
    assert log.row_count == LedgerEntry.objects.filter(transaction__member=trail["ann"]).count()
    assert (log.user, log.status, log.filters["member_no"]) == (
        platform_staff,
        AuditExport.Status.COMPLETE,
        trail["ann"].member_no,
    )
    page = staff_client.get("/staff/audit/").content.decode()
    assert log.sha256 in page


def test_the_export_is_forbidden_to_non_staff(trail, make_member, merchant_user, client):
    params = {"date_from": today(), "date_to": today(), "file_format": "csv"}
    client.force_login(make_member().user)
    assert client.post("/staff/audit/export/", params).status_code == 403
    client.force_login(merchant_user)
    assert client.post("/staff/audit/export/", params).status_code == 403
    assert AuditExport.objects.count() == 0


@pytest.mark.parametrize(
    "params, message",
    [
        ({"date_from": "2025-02-30"}, "YYYY-MM-DD"),
        ({"date_from": "yesterday"}, "YYYY-MM-DD"),
        ({"date_from": "2025-12-01", "date_to": "2025-11-01"}, "结束日期早于开始日期"),
        ({"member": "nobody"}, "没有会员号或用户名为 nobody 的会员"),
        ({"merchant": "no-such-shop"}, "没有标识为 no-such-shop 的商户"),
        ({"kind": "steal"}, "steal"),
        ({"file_format": "xlsx"}, "xlsx"),
    ],
)
def test_bad_filters_are_a_400_with_a_message(trail, staff_client, params, message):
    query = {"date_from": "2025-11-01", "date_to": "2025-11-30", "file_format": "csv", **params}

    response = staff_client.post("/staff/audit/export/", query)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert AuditExport.objects.count() == 0


def test_the_command_writes_the_file_and_logs_it(trail, tmp_path):
    out = tmp_path / "audit.csv"

    call_command(
        "export_audit", date_from=today(), date_to=today(), file_format="csv", out=str(out)
    )

    log = AuditExport.objects.get()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == log.sha256
    assert len(entry_rows(out.read_bytes())) == LedgerEntry.objects.count() == log.row_count
    assert log.actor.startswith("export_audit")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"date_from": "2025-13-01"}, "YYYY-MM-DD"),
        ({"date_to": "2025-11-31"}, "YYYY-MM-DD"),
        ({"member": "\udcffbad"}, "UTF-8"),
        ({"kind": "nope"}, "未知的类型 nope"),
    ],
)
def test_the_command_refuses_bad_filters(db, tmp_path, options, message):
    options = {
        "date_from": "2025-11-01",
        "date_to": "2025-11-30",
        "out": str(tmp_path / "a"),
        **options,
    }
    with pytest.raises(CommandError, match=message):
        call_command("export_audit", **options)


def test_filters_reject_non_text():
    with pytest.raises(BadFilter):
        audit_filters(date_from=20251101, date_to="2025-11-30")


def _bulk_ledger(member_account, issuer, transactions: int) -> None:
    """Many balanced transactions at once (the ledger service would take minutes)."""
    now = timezone.now()
    txns = LedgerTransaction.objects.bulk_create(
        [
            LedgerTransaction(
                kind="earn",
                idempotency_key=f"bulk-{i}",
                reference=f"R{i:07d}",
                reason="purchase",
                actor="bench",
                created_at=now,
            )
            for i in range(transactions)
        ],
        batch_size=5000,
    )
    if txns[0].pk is None:  # databases that cannot return ids from a bulk insert
        txns = list(LedgerTransaction.objects.filter(idempotency_key__startswith="bulk-"))
    LedgerEntry.objects.bulk_create(
        [
            entry
            for txn in txns
            for entry in (
                LedgerEntry(transaction_id=txn.pk, account=member_account, points=7),
                LedgerEntry(transaction_id=txn.pk, account=issuer, points=-7),
            )
        ],
        batch_size=10000,
    )


def test_streaming_100000_rows_keeps_memory_bounded(shop_a, make_member):
    member = make_member()
    _bulk_ledger(
        Account.objects.get(member=member, kind="standard"), issuance_account(shop_a), 50_000
    )
    filters = audit_filters(date_from=today(), date_to=today())
    log, stream = audit_export(filters=filters, file_format="csv", actor="test")

    tracemalloc.start()
    try:
        size = 0
        for chunk in stream:
            size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    log.refresh_from_db()
    assert log.row_count == 100_000
    assert size > 8_000_000
    # Bounded by one chunk of rows, not the output (rows carry every sealed field: ~170 B)
    assert peak < 5_000_000, f"peak {peak} bytes for {size} bytes of output"


def test_the_export_reads_one_repeatable_read_snapshot(trail, transactional_db, monkeypatch):
    monkeypatch.setattr(audit_service, "CHUNK_ROWS", 2)
    expected = LedgerEntry.objects.count()
    log, stream = audit_export(
        filters=audit_filters(date_from=today(), date_to=today()), file_format="csv", actor="t"
    )
    chunks = [next(stream), next(stream)]  # header, first rows: the snapshot is taken
    with connection.cursor() as cursor:
        cursor.execute("SHOW transaction_isolation")
        isolation = cursor.fetchone()[0]

    def concurrent_purchase():
        try:
            buy(
                trail["bob"],
                trail["bob"].purchases.first().merchant,
                [("tea", 1, 900)],
                timezone.now(),
            )
        finally:
            connection.close()

    writer = threading.Thread(target=concurrent_purchase)
    writer.start()
    writer.join()
    chunks.extend(stream)

    assert isolation == "repeatable read"
    assert LedgerEntry.objects.count() > expected
    assert len(entry_rows(b"".join(chunks))) == expected
    log.refresh_from_db()
    assert log.row_count == expected


def test_a_get_of_the_export_url_only_shows_the_form(trail, staff_client):
    params = {"date_from": today(), "date_to": today(), "file_format": "csv"}

    response = staff_client.get("/staff/audit/export/", params)

    assert response.status_code == 200 and not response.streaming
    assert 'method="post"' in response.content.decode()
    assert AuditExport.objects.count() == 0


def test_an_export_post_without_the_csrf_token_is_refused(trail, platform_staff):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(platform_staff)
    params = {"date_from": today(), "date_to": today(), "file_format": "csv"}

    assert client.post("/staff/audit/export/", params).status_code == 403
    assert AuditExport.objects.count() == 0
    form = client.get("/staff/audit/").content.decode()
    assert "csrfmiddlewaretoken" in form


def test_the_export_log_keeps_who_when_filters_and_sha256(trail, staff_client, platform_staff):
    params = {"date_from": today(), "date_to": today(), "kind": "earn", "file_format": "jsonl"}

    response = staff_client.post("/staff/audit/export/", params)
    body = b"".join(response.streaming_content)

    log = AuditExport.objects.get()
    assert (log.user, log.actor, log.filters["kind"], log.file_format) == (
        platform_staff,
        platform_staff.username,
        "earn",
        "jsonl",
    )
    assert log.started_at is not None and log.finished_at is not None
    assert log.sha256 == hashlib.sha256(body).hexdigest()
