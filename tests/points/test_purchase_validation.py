"""One table of bad and edge purchases, applied to every way a purchase gets in: the POS API
(400 `{"error": {"code", "message", "field"}}`), the CSV import (the receipt's rows go to the
rejects file) and `purchase_record` (`InvalidPurchase` naming the field). A refusal writes
nothing and leaves the ledger's invariants intact; an accepted edge is accepted by all three.
"""

import csv
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from points.models import ApiIdempotencyRecord, LedgerTransaction, Purchase
from points.services.errors import InvalidPurchase
from points.services.imports import COLUMNS, purchases_import
from points.services.purchase_validation import (
    MAX_AMOUNT_FEN,
    MAX_LINES,
    MAX_QUANTITY,
    LineRequest,
    purchase_check,
    purchase_idempotency_key,
)
from points.services.purchases import purchase_record

pytestmark = pytest.mark.django_db

_receipts = itertools.count(1)
MISSING = object()  # the value is left out: no JSON key, an empty CSV field, None


def now_plus(**delta):
    return lambda: timezone.now() + timedelta(**delta)


@dataclass
class Case:
    name: str
    field: str  # the field every adapter must name (the import: its last part, the column)
    receipt_no: object = "R-ok"
    occurred_at: object = None  # a datetime, a callable giving one, or raw text
    lines: list[dict] = field(default_factory=lambda: [line()])
    adapters: tuple[str, ...] = ("api", "import", "service")
    api_code: str = "invalid"


def line(**values):
    return {"line_no": 1, "category": "pens", "quantity": 1, "amount_fen": 1000, **values}


def lines(count, **values):
    return [line(line_no=n, **values) for n in range(1, count + 1)]


R = "receipt_no"
A = "lines[0].amount_fen"
Q = "lines[0].quantity"
BAD = [
    Case("receipt empty", R, receipt_no=""),
    Case("receipt missing", R, receipt_no=MISSING),
    Case("receipt with a space", R, receipt_no="R 1"),
    Case("receipt with a newline", R, receipt_no="R\n1"),
    Case("receipt with a tab", R, receipt_no="R\t1"),
    Case("receipt in hanzi", R, receipt_no="收据1"),
    Case("receipt starting with a dash", R, receipt_no="-R1"),
    Case("receipt of 65 characters", R, receipt_no="R" * 65),
    Case("receipt huge", R, receipt_no="R" * 100_000),
    Case(
        "receipt of a lone surrogate (non-UTF-8)", R, receipt_no="R\udcff1", adapters=("service",)
    ),
    Case("occurred_at 10 minutes ahead", "occurred_at", occurred_at=now_plus(minutes=10)),
    Case("occurred_at in year 9999", "occurred_at", occurred_at="9999-01-01T00:00:00+08:00"),
    Case("occurred_at before 2000", "occurred_at", occurred_at="1999-12-31T23:59:59+08:00"),
    Case("occurred_at in year 1", "occurred_at", occurred_at="0001-01-01T00:00:00+08:00"),
    Case("occurred_at past year 9999", "occurred_at", occurred_at="9999-12-31T23:59:59-08:00"),
    Case("occurred_at without offset", "occurred_at", occurred_at="2025-06-01T10:00:00"),
    Case("occurred_at not a date", "occurred_at", occurred_at="yesterday"),
    Case("occurred_at missing", "occurred_at", occurred_at=MISSING),
    Case("amount zero", A, lines=[line(amount_fen=0)]),
    Case("amount negative", A, lines=[line(amount_fen=-100)]),
    Case("amount fractional", A, lines=[line(amount_fen=12.5)]),
    Case("amount over the limit", A, lines=[line(amount_fen=MAX_AMOUNT_FEN + 1)]),
    Case("amount huge", A, lines=[line(amount_fen=10**40)]),
    Case("amount as text", A, lines=[line(amount_fen="ten")]),
    Case("amount missing", A, lines=[line(amount_fen=MISSING)]),
    Case("amount a boolean", A, lines=[line(amount_fen=True)], adapters=("api", "service")),
    Case("quantity zero", Q, lines=[line(quantity=0)]),
    Case("quantity negative", Q, lines=[line(quantity=-1)]),
    Case("quantity over the limit", Q, lines=[line(quantity=MAX_QUANTITY + 1)]),
    Case("quantity missing", Q, lines=[line(quantity=MISSING)]),
    Case("both sku and category", "lines[0].sku", lines=[line(sku="GREEN-NB-01")]),
    Case("neither sku nor category", "lines[0].sku", lines=[line(category=MISSING)]),
    Case("sku of 65 characters", "lines[0].sku", lines=[line(category=MISSING, sku="S" * 65)]),
    Case("category not a slug", "lines[0].category", lines=[line(category="笔 记")]),
    Case("no lines", "lines", lines=[], adapters=("api", "service")),
    Case("too many lines", "lines", lines=lines(MAX_LINES + 1, amount_fen=100)),
    Case("total over the limit", "lines", lines=lines(2, amount_fen=MAX_AMOUNT_FEN // 2 + 1)),
    # The import numbers a receipt's lines itself, in file order: these only reach the others.
    Case("line number twice", "lines", lines=[line(), line()], adapters=("api", "service")),
    Case(
        "line number zero", "lines[0].line_no", lines=[line(line_no=0)], adapters=("api", "service")
    ),
    Case(
        "line number over the limit",
        "lines[0].line_no",
        lines=[line(line_no=10_001)],
        adapters=("api", "service"),
    ),
]
EDGES = [
    Case("receipt of 64 characters", "", receipt_no="R" * 64),
    Case("receipt of every allowed character", "", receipt_no="Ab9._:/-z"),
    Case("occurred_at 4 minutes ahead", "", occurred_at=now_plus(minutes=4)),
    Case("occurred_at on 1 January 2000", "", occurred_at="2000-01-01T00:00:00+00:00"),
    Case("one fen", "", lines=[line(amount_fen=1)]),
    Case("amount at the limit", "", lines=[line(amount_fen=MAX_AMOUNT_FEN)]),
    Case("quantity at the limit", "", lines=[line(quantity=MAX_QUANTITY)]),
    Case("the most lines", "", lines=lines(MAX_LINES, amount_fen=100)),
]


def _occurred_at(case: Case):
    value = case.occurred_at
    if value is None:
        return timezone.now() - timedelta(minutes=1)
    return value() if callable(value) else value


def _receipt(case: Case, variant: str = ""):
    """Each case's receipt unique in the run, unless the case is about the receipt (then
    `variant` replaces its last character, so one edge can go in by several adapters)."""
    if case.receipt_no == "R-ok":
        return f"R-{next(_receipts)}"
    if variant:
        return case.receipt_no[:-1] + variant
    return case.receipt_no


def _as_datetime(value):
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value  # the service gets the text: not a date-time
    return None if value is MISSING else value


# --- The three adapters ----------------------------------------------------------------------


def via_api(pos, member, case: Case):
    body = {"member_no": member.member_no}
    receipt, occurred_at = _receipt(case), _occurred_at(case)
    if receipt is not MISSING:
        body["receipt_no"] = receipt
    if occurred_at is not MISSING:
        body["occurred_at"] = (
            occurred_at.isoformat() if isinstance(occurred_at, datetime) else occurred_at
        )
    body["lines"] = [{k: v for k, v in x.items() if v is not MISSING} for x in case.lines]
    return pos.post(
        "/api/v1/purchases",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=f"key-{next(_receipts)}",
    )


def _csv_value(value):
    if value is MISSING:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def via_import(tmp_path, member, case: Case, variant=""):
    receipt, occurred_at = _receipt(case, variant), _occurred_at(case)
    path = tmp_path / "purchases.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for x in case.lines:
            writer.writerow(
                [
                    "shop-a",
                    member.member_no,
                    _csv_value(receipt),
                    _csv_value(occurred_at),
                    _csv_value(x.get("sku", MISSING)),
                    _csv_value(x.get("category", MISSING)),
                    _csv_value(x.get("quantity", MISSING)),
                    _csv_value(x.get("amount_fen", MISSING)),
                ]
            )
    summary = purchases_import(path=path, progress=False)
    with open(summary.rejects_path, encoding="utf-8", newline="") as handle:
        rejects = list(csv.DictReader(handle))
    return summary, rejects


def via_service(shop, member, case: Case, variant=""):
    receipt = _receipt(case, variant)
    return purchase_record(
        merchant=shop.store.merchant,
        member=member,
        receipt_no=None if receipt is MISSING else receipt,
        occurred_at=_as_datetime(_occurred_at(case)),
        lines=[
            LineRequest(
                line_no=x.get("line_no", MISSING),
                quantity=None if x.get("quantity") is MISSING else x.get("quantity"),
                amount_fen=None if x.get("amount_fen") is MISSING else x.get("amount_fen"),
                sku=x.get("sku"),
                category=None if x.get("category") is MISSING else x.get("category"),
            )
            for x in case.lines
        ],
    )


def written():
    return (
        Purchase.objects.count(),
        LedgerTransaction.objects.count(),
        ApiIdempotencyRecord.objects.count(),
    )


# --- The table, three times ------------------------------------------------------------------


def _cases(table, adapter):
    return [pytest.param(c, id=c.name) for c in table if adapter in c.adapters]


@pytest.mark.parametrize("case", _cases(BAD, "api"))
def test_the_api_refuses_with_a_400_naming_the_field(pos, make_member, case, ledger_ok):
    member = make_member()
    before = written()

    response = via_api(pos, member, case)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (case.api_code, case.field), error
    assert error["message"]
    assert written() == before
    ledger_ok()


@pytest.mark.parametrize("case", _cases(BAD, "import"))
def test_the_import_rejects_the_receipt_naming_the_column(
    shop, make_member, tmp_path, case, ledger_ok
):
    member = make_member()
    before = written()

    summary, rejects = via_import(tmp_path, member, case)

    assert (summary.purchases, summary.rejected_purchases) == (0, 1)
    assert len(rejects) == len(case.lines)
    column = case.field.rsplit(".", 1)[-1]
    assert any(column in reject["reason"] for reject in rejects), rejects[-1]["reason"]
    assert written() == before
    ledger_ok()


@pytest.mark.parametrize("case", _cases(BAD, "service"))
def test_the_service_raises_invalid_purchase_naming_the_field(shop, make_member, case, ledger_ok):
    member = make_member()
    before = written()

    with pytest.raises(InvalidPurchase) as raised:
        via_service(shop, member, case)

    assert raised.value.field == case.field
    assert str(raised.value)
    assert written() == before
    ledger_ok()


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in EDGES])
def test_an_edge_purchase_is_accepted_by_all_three(
    pos, shop, make_member, tmp_path, case, ledger_ok
):
    member = make_member()

    response = via_api(pos, member, case)
    summary, rejects = via_import(tmp_path, member, case, variant="B")
    purchase = via_service(shop, member, case, variant="C")

    assert response.status_code == 201, response.content
    assert (summary.purchases, summary.rejected_rows) == (1, 0), rejects
    assert purchase.pk and not purchase.replayed
    assert Purchase.objects.filter(member=member).count() == 3
    ledger_ok()


# --- Non-UTF-8 input, in each adapter's own form -----------------------------------------------


def test_the_api_refuses_a_body_that_is_not_utf8(pos, make_member, ledger_ok):
    member = make_member()
    body = (
        f'{{"member_no": "{member.member_no}", "receipt_no": "R\xe9", '
        f'"occurred_at": "{timezone.now().isoformat()}", '
        '"lines": [{"line_no": 1, "category": "pens", "quantity": 1, "amount_fen": 100}]}'
    ).encode("latin-1")

    response = pos.post(
        "/api/v1/purchases", data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"malformed_json", "invalid"}
    assert written() == (0, 0, 0)
    ledger_ok()


def test_the_import_rejects_a_row_that_is_not_utf8(shop, make_member, tmp_path, ledger_ok):
    member = make_member()
    when = (timezone.now() - timedelta(minutes=1)).isoformat()
    path = tmp_path / "gbk.csv"
    path.write_bytes(
        (",".join(COLUMNS) + "\n").encode()
        + f"shop-a,{member.member_no},R-1,{when},,pens,1,1000\n".encode()
        + f"shop-a,{member.member_no},收据-2,{when},,pens,1,1000\n".encode("gbk")
    )

    summary = purchases_import(path=path, progress=False)

    assert (summary.purchases, summary.rejected_purchases) == (1, 1)
    assert list(Purchase.objects.values_list("receipt_no", flat=True)) == ["R-1"]
    ledger_ok()


# --- The rules themselves, without a database ----------------------------------------------


def test_one_idempotency_key_per_receipt_whatever_the_path():
    assert purchase_idempotency_key(7, "R-1") == "purchase:7:R-1"


def test_the_clock_of_the_check_can_be_given():
    later = datetime(2030, 1, 1, tzinfo=UTC)
    purchase_check(
        receipt_no="R-1",
        occurred_at=later + timedelta(minutes=5),
        lines=[LineRequest(line_no=1, quantity=1, amount_fen=1, category="pens")],
        now=later,
    )
    with pytest.raises(InvalidPurchase):
        purchase_check(
            receipt_no="R-1",
            occurred_at=later + timedelta(minutes=5, seconds=1),
            lines=[LineRequest(line_no=1, quantity=1, amount_fen=1, category="pens")],
            now=later,
        )


def test_the_refusal_is_in_chinese_by_default_and_in_english_on_request(pos, make_member):
    member = make_member()
    case = Case("receipt with a space", R, receipt_no="R 1")

    chinese = via_api(pos, member, case).json()["error"]["message"]
    pos.credentials(
        HTTP_AUTHORIZATION=pos._credentials["HTTP_AUTHORIZATION"], HTTP_ACCEPT_LANGUAGE="en"
    )
    english = via_api(pos, member, case).json()["error"]["message"]

    assert chinese.startswith("小票号")
    assert english.startswith("A receipt number has 1 to 64")
