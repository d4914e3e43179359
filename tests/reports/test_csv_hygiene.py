"""Every CSV the product writes opens in a spreadsheet with no live formula, and keeps its BOM
(points/csv_writer.py; OWASP "CSV injection")."""

import csv
import io

import pytest
from django.test import TestCase

from merchants.models import Merchant
from points.csv_writer import csv_bytes, safe_cell, unsafe_cell
from reports.periods import current_month
from tests.reports.audit_history import build_history, export

pytestmark = pytest.mark.django_db
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cells(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "the BOM Excel needs for UTF-8"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def assert_no_live_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            if cell.startswith("-") and cell[1:].isdigit():
                continue  # a negative number is a number, not a formula
            assert not cell.startswith(FORMULA_STARTS), f"live formula cell {cell!r} in {row}"


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r", "'"])
def test_a_text_cell_with_a_formula_prefix_is_quoted_and_can_be_read_back(prefix):
    value = f'{prefix}HYPERLINK("http://evil")'

    written = safe_cell(value)

    assert written == "'" + value
    assert unsafe_cell(written) == value


@pytest.mark.parametrize("value", ["晨光文具", "a=b", "", "100", 42, -40, None])
def test_other_cells_are_written_as_they_are(value):
    assert safe_cell(value) == value


def test_a_small_document_has_the_bom_and_crlf_rows():
    data = csv_bytes([["=1+1", -5]], header=["名称", "积分"])

    assert data == "\ufeff名称,积分\r\n'=1+1,-5\r\n".encode()


@pytest.fixture
def history(shop_a, shop_b, make_member, settings):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return build_history(shop_a, shop_b, make_member, settings)


def test_the_audit_csv_has_no_live_formula(history, tmp_path):
    data = export(tmp_path / "trail.csv", "csv").read_bytes()

    rows = cells(data)
    assert_no_live_formula(rows)
    reasons = {row[12] for row in rows[1:]}
    assert "'-=SUM(A1) goodwill" in reasons and "'+补录 missing points" in reasons


def test_the_member_history_csv_has_no_live_formula(history, client):
    client.force_login(history["ann"].user)

    response = client.get("/points/history/", {"format": "csv"})

    data = b"".join(response.streaming_content)
    rows = cells(data)
    assert_no_live_formula(rows)
    assert any("'+补录 missing points" in row for row in rows)


def test_the_settlement_csv_has_no_live_formula(history, staff_client, shop_a):
    Merchant.objects.filter(pk=shop_a.pk).update(name='=HYPERLINK("http://evil","点我")')

    response = staff_client.get(
        "/staff/settlement/", {"month": current_month().label, "format": "csv"}
    )

    rows = cells(response.content)
    assert_no_live_formula(rows)
    assert any(row[0] == '\'=HYPERLINK("http://evil","点我")' for row in rows)


def test_the_import_rejects_csv_has_no_live_formula(db, tmp_path, make_member):
    from points.services.imports import purchases_import

    Merchant.objects.create(name="晨光文具 Test", slug="chenguang-test")
    member = make_member()
    source = tmp_path / "history.csv"
    source.write_text(
        "merchant,member_no,receipt_no,occurred_at,sku,category,quantity,amount_fen\n"
        f"chenguang-test,{member.member_no},\"=cmd|' /C calc'!A0\",2024-09-01T10:00:00+08:00,"
        ",@SUM(1),1,-100\n"
        '+evil,"-2+3",R2,2024-09-01T10:00:00+08:00,,pens,1,100\n',
        encoding="utf-8",
    )

    summary = purchases_import(path=source, progress=False)

    data = summary.rejects_path.read_bytes()
    rows = cells(data)
    assert len(rows) == 3  # header and both rows rejected
    assert_no_live_formula(rows)
    assert rows[1][2] == "'=cmd|' /C calc'!A0" and rows[2][0] == "'+evil"


def test_no_module_writes_csv_except_through_the_one_writer():
    """grep: csv.writer appears only in points/csv_writer.py among the product's apps."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for app in ("config", "merchants", "points", "redemption", "reports")
        for path in (root / app).rglob("*.py")
        if ("csv.writer(" in path.read_text() or "csv.DictWriter(" in path.read_text())
        and path.name != "csv_writer.py"
    ]
    assert offenders == []
