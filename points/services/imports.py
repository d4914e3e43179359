"""Importing historical purchases from a CSV file (`manage.py import_purchases`).

One row per purchase line::

    merchant,member_no,receipt_no,occurred_at,sku,category,quantity,amount_fen

Rows with the same (merchant, receipt_no) form one purchase, its lines numbered in file
order (the rows need not be adjacent). Points are computed in Python by the same pure rules
engine as `purchase_record` (`earn_for_purchase`, the merchant's campaigns), so an imported
purchase has exactly the points, ledger transaction, entries and lots that recording it
through the API would have given — except that an import grants no sign-up or first-purchase
bonus (those follow a member's real first visit, not the loading of old receipts) and sets
`Member.last_activity_at` to the latest imported `occurred_at` when that is newer.

Writing is set-based: per batch of rows, one transaction that COPYs the
computed purchases and lines into TEMP staging tables, drops receipts already recorded
(anti-join), posts the ledger rows with `ledger_bulk_earn_from_staging` and inserts purchases
and lines with INSERT ... SELECT. A crash loses at most the batch in flight; a rerun skips
what was committed. The database's part of a batch runs in a second thread on the same
connection while this one reads, validates and computes the next batch (and builds its COPY
text); lookups happen between two writes, so the connection is never used by both at once.
Members with a negative balance (a refund debt) have their purchases posted one by one
through `ledger_post`, which repays the debt from the new credit.

Validation is `points.services.purchase_validation`'s, the rules the POS API and
`purchase_record` apply too (this module only parses the CSV text). A row that fails
validation rejects its whole purchase: every row of that receipt goes to
the rejects CSV with a reason, and nothing of it is written.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar

from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    OperationalError,
    connection,
    connections,
    models,
    transaction,
)
from django.db.backends.utils import CursorWrapper
from django.utils import timezone
from tqdm import tqdm

from merchants.models import Category, Merchant, Product
from points.csv_writer import csv_writer
from points.models import Account, LedgerTransaction, Member, Purchase, PurchaseLine
from points.rules import CampaignRule, EarnResult, LineInput, earn_for_purchase
from points.services.accounts import issuance_account, system_account
from points.services.errors import InvalidPurchase
from points.services.ledger import (
    EARN_STAGING_COLUMNS,
    MemberAccountInDebt,
    ledger_bulk_earn_from_staging,
    ledger_post,
)
from points.services.purchase_validation import (
    LineRequest,
    line_check,
    lines_check,
    occurred_at_check,
    purchase_idempotency_key,
    receipt_no_check,
)
from points.services.purchases import ReceiptAlreadyRecorded, campaign_rules, earn_postings
from points.statements import quote

COLUMNS = (
    "merchant",
    "member_no",
    "receipt_no",
    "occurred_at",
    "sku",
    "category",
    "quantity",
    "amount_fen",
)
REJECT_COLUMNS = (*COLUMNS, "line", "reason")
DEFAULT_BATCH_ROWS = 50_000
ACTOR = "import"
_DIGITS = re.compile(r"[0-9]+")
_WRITE_ATTEMPTS = 3


class ImportFileError(Exception):
    """The file cannot be imported at all (missing, unreadable, wrong header); nothing done."""


@dataclass
class ImportSummary:
    rows: int = 0
    purchases: int = 0
    lines: int = 0
    points: int = 0
    green_points: int = 0
    already_recorded: int = 0
    rejected_purchases: int = 0
    rejected_rows: int = 0
    rejects_path: Path | None = None


@dataclass(slots=True)
class _Row:
    line: int  # physical line of the file, the header being line 1
    values: list[str]  # in COLUMNS order, padded with "" when columns are missing
    error: str | None


@dataclass(frozen=True, slots=True)
class _MemberRef:
    id: int
    standard_account_id: int
    green_account_id: int


@dataclass(frozen=True, slots=True)
class _ProductRef:
    id: int
    category: Category
    carbon_saved_g_per_unit: int


@dataclass(slots=True)
class _Line:
    line_no: int
    quantity: int
    amount_fen: int
    product_id: int | None
    category: Category
    carbon_saved_g_per_unit: int


@dataclass(slots=True)
class _Purchase:
    merchant: Merchant
    member: _MemberRef
    receipt_no: str
    occurred_at: datetime
    lines: list[_Line]
    # Computed (`_compute`) before anything reads it.
    earned: EarnResult = None  # type: ignore[assignment]
    purchase_id: int | None = None


@dataclass(slots=True)
class _Batch:
    purchases: list[_Purchase]  # validated, not recorded yet, points computed
    rows: int  # CSV rows read for it, rejected ones included
    staged: tuple[str, str] | None = None  # COPY text of the staging rows (PostgreSQL)


@dataclass
class _MerchantRules:
    merchant: Merchant
    categories: dict[str, Category]
    campaigns: list[CampaignRule]
    products: dict[str, _ProductRef | None] = field(default_factory=dict)
    issuance: Account | None = None
    green_issuance: Account | None = None


def default_rejects_path(path: Path) -> Path:
    """`history.csv` -> `history.rejects.csv`."""
    return path.with_name(f"{path.stem if path.suffix == '.csv' else path.name}.rejects.csv")


def purchases_import(
    *,
    path: str | Path,
    rejects_path: str | Path | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: bool = True,
    now: datetime | None = None,
) -> ImportSummary:
    """Import historical purchases from the CSV at `path`; see the module docstring.

    Idempotent by (merchant, receipt_no): receipts already recorded are skipped. Each batch
    of about `batch_rows` rows is written in its own transaction. Raises `ImportFileError`
    (having written nothing) when the file as a whole cannot be read.
    """
    path = Path(path)
    rejects_path = Path(rejects_path) if rejects_path else default_rejects_path(path)
    if batch_rows < 1:
        raise ImportFileError("The batch size must be at least 1 row.")
    source = _CsvSource(path)
    multi_row_receipts, total_rows = source.scan()
    importer = _Importer(now=now or timezone.now())
    summary = importer.summary
    summary.rejects_path = rejects_path
    try:
        rejects_file = rejects_path.open("w", encoding="utf-8", newline="")
    except OSError as error:
        raise ImportFileError(f"Cannot write the rejects file {rejects_path}: {error}") from None
    with (
        rejects_file,
        tqdm(
            total=total_rows,
            unit="row",
            desc="import_purchases",
            file=sys.stderr,
            disable=not progress,
        ) as bar,
    ):
        importer.rejects = csv_writer(rejects_file, bom=True)
        importer.rejects.writerow(REJECT_COLUMNS)
        # Two stages: while the writer posts batch k, this thread validates and computes
        # batch k+1 and reads k+2. The connection is used by one thread at a time: lookups
        # for a batch run here between the previous write's end and the next one's start.
        with _Writer(importer, bar) as writer:
            ready: _Batch | None = None
            for groups, size in _batches(source.rows(), multi_row_receipts, batch_rows):
                writer.wait()
                importer.look_up(groups)
                if ready is not None:
                    writer.submit(ready)
                ready = importer.prepare(groups, size)
            if ready is not None:
                writer.submit(ready)
    return summary


# --- Reading -------------------------------------------------------------------------------


class _CsvSource:
    """The file, read as bytes and decoded line by line so one bad line rejects one row."""

    def __init__(self, path: Path):
        self.path = path
        if not path.exists():
            raise ImportFileError(f"No such file: {path}")
        if path.is_dir():
            raise ImportFileError(f"{path} is a directory, not a CSV file.")
        try:
            with path.open("rb") as handle:
                header_bytes = handle.readline()
        except OSError as error:
            raise ImportFileError(f"Cannot read {path}: {error.strerror}") from None
        if not header_bytes.strip():
            raise ImportFileError(f"{path} is empty: a header row is required.")
        try:
            header_text = header_bytes.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportFileError(f"{path} is not UTF-8 text.") from None
        header = [name.strip().lower() for name in next(csv.reader([header_text]))]
        if sorted(header) != sorted(COLUMNS):
            raise ImportFileError(
                f"{path}: wrong header {','.join(header)!r}; expected {','.join(COLUMNS)!r}."
            )
        self.positions = [header.index(name) for name in COLUMNS]

    def rows(self) -> Iterator[_Row]:
        decode_error: list[str | None] = [None]
        line_no = [1]
        positions = self.positions
        width = len(COLUMNS)

        def lines(handle: IO[bytes]) -> Iterator[str]:
            handle.readline()  # the header
            for raw in handle:
                line_no[0] += 1
                try:
                    text = raw.decode("utf-8")
                    decode_error[0] = None
                except UnicodeDecodeError:
                    text = raw.decode("utf-8", "replace")
                    decode_error[0] = "the line is not valid UTF-8"
                if "\x00" in text:
                    # Valid UTF-8 but NUL bytes (UTF-16, binary): PostgreSQL text cannot hold
                    # them, so they never reach a query; the row is rejected.
                    text = text.replace("\x00", "\ufffd")
                    decode_error[0] = "the line contains NUL bytes (not UTF-8 text: UTF-16?)"
                yield text

        with self.path.open("rb") as handle:
            for fields in csv.reader(lines(handle)):
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # blank line
                error = decode_error[0]
                if len(fields) == width:
                    values = [fields[i].strip() for i in positions]
                else:
                    error = error or f"expected {width} columns, found {len(fields)}"
                    values = [fields[i].strip() if i < len(fields) else "" for i in positions]
                yield _Row(line_no[0], values, error)

    def scan(self) -> tuple[dict[str, int], int]:
        """First pass: how many rows each multi-row receipt has, and the number of rows."""
        counts: Counter[str] = Counter()
        rows = undecodable = 0
        for row in self.rows():
            rows += 1
            if row.error and "UTF-8" in row.error:
                undecodable += 1
            counts[_receipt_key(row)] += 1
        if rows and undecodable == rows:
            raise ImportFileError(f"{self.path} is not UTF-8 text.")
        return {key: n for key, n in counts.items() if n > 1}, rows


def _receipt_key(row: _Row) -> str:
    return f"{row.values[0]}\x1f{row.values[2]}"


def _batches(
    rows: Iterator[_Row], multi_row_receipts: dict[str, int], batch_rows: int
) -> Iterator[tuple[list[list[_Row]], int]]:
    """Whole receipts' rows in batches of about `batch_rows` rows, with their row count."""
    batch: list[list[_Row]] = []
    size = 0
    for group in _groups(rows, multi_row_receipts):
        batch.append(group)
        size += len(group)
        if size >= batch_rows:
            yield batch, size
            batch, size = [], 0
    if batch:
        yield batch, size


def _groups(rows: Iterator[_Row], multi_row_receipts: dict[str, int]) -> Iterator[list[_Row]]:
    """Rows grouped by receipt, each group yielded as soon as its last row has been read."""
    pending: dict[str, list[_Row]] = {}
    for row in rows:
        key = _receipt_key(row)
        expected = multi_row_receipts.get(key)
        if expected is None:
            yield [row]
            continue
        group = pending.setdefault(key, [])
        group.append(row)
        if len(group) == expected:
            del pending[key]
            yield group
    yield from pending.values()  # only if the file changed between the two passes


class _Writer:
    """Writes one batch at a time, in a second thread, on the same connection.

    PostgreSQL does the writing, so the thread mostly waits on it and leaves the GIL to the
    importer's thread, which meanwhile validates and computes the next batch. The caller
    never uses the connection while a write is in flight (`wait` first).
    """

    def __init__(self, importer: _Importer, bar: tqdm):
        self.importer = importer
        self.bar = bar
        self.in_flight: tuple[Future[list[_Purchase]], _Batch] | None = None
        self.connection = connections[DEFAULT_DB_ALIAS]
        self.executor: ThreadPoolExecutor | None = None

    def __enter__(self) -> _Writer:
        self.connection.inc_thread_sharing()
        self.executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="import-writer", initializer=self._share
        )
        return self

    def _share(self) -> None:
        connections[DEFAULT_DB_ALIAS] = self.connection  # as LiveServerThread does

    def submit(self, batch: _Batch) -> None:
        self.wait()
        if self.executor is None:
            self._written(batch, self.importer.write(batch))
        else:
            self.in_flight = (self.executor.submit(self.importer.write, batch), batch)

    def wait(self) -> None:
        """Until the write in flight, if any, is over; its error, if any, is raised here."""
        if self.in_flight is not None:
            future, batch = self.in_flight
            self.in_flight = None
            self._written(batch, future.result())

    def _written(self, batch: _Batch, written: list[_Purchase]) -> None:
        self.importer.count_written(batch.purchases, written)
        self.bar.update(batch.rows)

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        try:
            if exc_type is None:
                self.wait()
        finally:
            if self.executor is not None:
                self.executor.shutdown(wait=True)  # never leave the connection in two threads
                self.connection.dec_thread_sharing()


# --- Validating, computing, writing --------------------------------------------------------


class _Rejected(Exception):
    def __init__(self, row: _Row, reason: str):
        self.row = row
        self.reason = reason


class _Importer:
    def __init__(self, *, now: datetime):
        self.now = now
        self.batch_now = now
        self.summary = ImportSummary()
        self.rejects: Any = None  # a csv writer once the import opens its file
        self.merchants = {m.slug: m for m in Merchant.objects.all()}
        self.rules: dict[int, _MerchantRules] = {}
        self.members: dict[str, _MemberRef | None] = {}
        self.chunk = 10_000

    # One batch: look up what it names (database), validate and compute (Python only, so it
    # can overlap the previous batch's write), then write (the `_Writer`'s thread).
    def look_up(self, groups: list[list[_Row]]) -> None:
        """Everything `prepare` needs from the database for these rows, into the caches."""
        self._load_members(groups)
        self._load_products(groups)
        self._load_recorded(groups)

    def prepare(self, groups: list[list[_Row]], size: int) -> _Batch | None:
        """Validate (rejects go to the file), drop recorded receipts, compute the points."""
        self.summary.rows += size
        purchases = []
        for group in groups:
            try:
                purchases.append(self._purchase(group))
            except _Rejected as rejected:
                self._reject(group, rejected)
        purchases = self._without_recorded(purchases)
        for purchase in purchases:
            self._compute(purchase)
        batch = _Batch(purchases, size)
        if purchases:
            batch.staged = self._staged(purchases)
        return batch

    def write(self, batch: _Batch) -> list[_Purchase]:
        """Write the batch in one transaction (retried); the purchases actually written."""
        if not batch.purchases:
            return []
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                return self._write_set_based(batch)
            except (IntegrityError, OperationalError, MemberAccountInDebt):
                # A concurrent writer recorded one of these receipts, put a member in debt or
                # deadlocked with us: the batch was rolled back; try it again from the top.
                if attempt == _WRITE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def count_written(self, purchases: list[_Purchase], written: list[_Purchase]) -> None:
        self.summary.already_recorded += len(purchases) - len(written)
        for purchase in written:
            self.summary.purchases += 1
            self.summary.lines += len(purchase.lines)
            self.summary.points += purchase.earned.points
            self.summary.green_points += purchase.earned.green_points

    def _reject(self, group: list[_Row], rejected: _Rejected) -> None:
        self.summary.rejected_purchases += 1
        self.summary.rejected_rows += len(group)
        for row in group:
            if row is rejected.row:
                reason = rejected.reason
            else:
                reason = (
                    f"rejected with line {rejected.row.line} of the same receipt: {rejected.reason}"
                )
            self.rejects.writerow([*row.values, row.line, reason])

    def _load_members(self, groups: list[list[_Row]]) -> None:
        wanted = {row.values[1] for group in groups for row in group} - self.members.keys()
        wanted.discard("")
        for chunk in _chunks(sorted(wanted), self.chunk):
            found: dict[str, dict[str, Any]] = {}
            accounts = Account.objects.filter(
                member__member_no__in=chunk, kind__in=Account.MEMBER_KINDS
            ).values_list("member__member_no", "member_id", "kind", "id")
            for member_no, member_id, kind, account_id in accounts:
                found.setdefault(member_no, {"id": member_id})[kind] = account_id
            for member_no in chunk:
                ids = found.get(member_no)
                self.members[member_no] = (
                    _MemberRef(
                        id=ids["id"],
                        standard_account_id=ids[Account.Kind.STANDARD],
                        green_account_id=ids[Account.Kind.GREEN],
                    )
                    if ids and len(ids) == 3
                    else None
                )

    def _rules_for(self, merchant: Merchant) -> _MerchantRules:
        rules = self.rules.get(merchant.pk)
        if rules is None:
            rules = self.rules[merchant.pk] = _MerchantRules(
                merchant=merchant,
                categories={c.slug: c for c in Category.objects.filter(merchant=merchant)},
                # All active campaigns once; the rules engine checks each one's dates.
                campaigns=campaign_rules(merchant),
            )
        return rules

    def _load_products(self, groups: list[list[_Row]]) -> None:
        wanted: dict[int, set[str]] = {}
        for group in groups:
            for row in group:
                merchant = self.merchants.get(row.values[0])
                if merchant is None:
                    continue
                rules = self._rules_for(merchant)  # read here, not while a batch is written
                sku = row.values[4]
                if sku and sku not in rules.products:
                    wanted.setdefault(merchant.pk, set()).add(sku)
        for merchant_id, skus in wanted.items():
            rules = self.rules[merchant_id]
            for chunk in _chunks(sorted(skus), self.chunk):
                for product in Product.objects.filter(
                    merchant_id=merchant_id, sku__in=chunk, active=True
                ).select_related("category"):
                    rules.products[product.sku] = _ProductRef(
                        id=product.pk,
                        category=product.category,
                        carbon_saved_g_per_unit=product.carbon_saved_g if product.is_green else 0,
                    )
                for sku in chunk:
                    rules.products.setdefault(sku, None)

    def _purchase(self, group: list[_Row]) -> _Purchase:
        """The validated purchase of one receipt's rows, or `_Rejected` naming the bad row."""
        purchase = None
        requests: list[LineRequest] = []
        for line_no, row in enumerate(group, start=1):
            if row.error:
                raise _Rejected(row, row.error)
            merchant_slug, member_no, receipt_no, occurred_raw, sku, category_slug, qty, amount = (
                row.values
            )
            merchant = self.merchants.get(merchant_slug)
            if merchant is None:
                raise _Rejected(row, f"unknown merchant {merchant_slug!r}")
            rules = self._rules_for(merchant)
            member = self.members.get(member_no)
            if member is None:
                raise _Rejected(row, f"unknown member {member_no!r}")
            occurred_at = self._occurred_at(row, occurred_raw)
            request = LineRequest(
                line_no=line_no,
                quantity=_whole_number(row, "quantity", qty),
                amount_fen=_whole_number(row, "amount_fen", amount),
                sku=sku or None,
                category=category_slug or None,
            )
            with _rejecting(row):  # the rules `purchase_record` and the API apply
                receipt_no_check(receipt_no)
                occurred_at_check(occurred_at, now=self.now)
                line_check(request, index=line_no - 1)
            if sku:
                product = rules.products.get(sku)
                if product is None:
                    raise _Rejected(row, f"unknown sku {sku!r} at {merchant_slug}")
                product_id, category = product.id, product.category
                carbon_per_unit = product.carbon_saved_g_per_unit
            else:
                found_category = rules.categories.get(category_slug)
                if found_category is None:
                    raise _Rejected(row, f"unknown category {category_slug!r} at {merchant_slug}")
                category = found_category
                product_id, carbon_per_unit = None, 0
            line = _Line(
                line_no, request.quantity, request.amount_fen, product_id, category, carbon_per_unit
            )
            requests.append(request)
            if purchase is None:
                purchase = _Purchase(merchant, member, receipt_no, occurred_at, [line])
                continue
            if member is not purchase.member:
                raise _Rejected(row, "lines of one receipt name different members")
            if occurred_at != purchase.occurred_at:
                raise _Rejected(row, "lines of one receipt give different occurred_at times")
            purchase.lines.append(line)
        with _rejecting(group[-1]):  # the receipt as a whole: number of lines, total
            lines_check(requests)
        assert purchase is not None  # a group has at least one row
        return purchase

    def _occurred_at(self, row: _Row, raw: str) -> datetime:
        try:
            occurred_at = datetime.fromisoformat(raw)
        except ValueError:
            raise _Rejected(row, f"occurred_at {raw!r} is not an ISO 8601 date-time") from None
        if occurred_at.tzinfo is None:
            raise _Rejected(row, f"occurred_at {raw!r} has no UTC offset")
        return occurred_at

    def _load_recorded(self, groups: list[list[_Row]]) -> None:
        """Receipts of these rows already recorded (a rerun), so no time goes on their points."""
        keys: dict[tuple[int, str], None] = {}
        for group in groups:
            values = group[0].values
            merchant = self.merchants.get(values[0])
            if merchant is not None and values[2]:
                keys[(merchant.pk, values[2])] = None
        self.recorded = set()
        for chunk in _chunks(list(keys), self.chunk):
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    SELECT p.merchant_id, p.receipt_no
                      FROM unnest(%s::bigint[], %s::text[]) AS k(merchant_id, receipt_no)
                      JOIN points_purchase p USING (merchant_id, receipt_no)
                    """,
                    [[key[0] for key in chunk], [key[1] for key in chunk]],
                )
                self.recorded.update(cursor.fetchall())

    def _without_recorded(self, purchases: list[_Purchase]) -> list[_Purchase]:
        """Drop receipts already recorded (a rerun), before spending time on their points."""
        kept = [p for p in purchases if (p.merchant.pk, p.receipt_no) not in self.recorded]
        self.summary.already_recorded += len(purchases) - len(kept)
        return kept

    def _compute(self, purchase: _Purchase) -> None:
        """Points by the rules engine, exactly as `purchase_record` computes them."""
        rules = self.rules[purchase.merchant.pk]
        on = timezone.localdate(purchase.occurred_at)
        purchase.earned = earn_for_purchase(
            lines=[
                LineInput(
                    line_no=line.line_no,
                    quantity=line.quantity,
                    amount_fen=line.amount_fen,
                    category_slug=line.category.slug,
                    category_multiplier=line.category.multiplier,
                    carbon_saved_g_per_unit=line.carbon_saved_g_per_unit,
                )
                for line in purchase.lines
            ],
            points_per_yuan=purchase.merchant.points_per_yuan,
            campaigns=rules.campaigns,
            on=on,
        )

    # --- Writing: one by one (members in debt; the general path) -----------------------

    def _write_one_by_one(self, purchases: list[_Purchase]) -> list[_Purchase]:
        """The general path for a whole batch: not run by the import; the differential test
        holds `_write_set_based` equal to it."""
        self.batch_now = timezone.now()
        with transaction.atomic(durable=True):
            written = [p for p in purchases if self._write_one(p)]
            self._touch_members(written)
        return written

    def _write_one(self, purchase: _Purchase) -> bool:
        """What `purchase_record` writes, without its first-purchase bonus; False if recorded."""
        merchant, member, earned = purchase.merchant, purchase.member, purchase.earned
        if Purchase.objects.filter(merchant=merchant, receipt_no=purchase.receipt_no).exists():
            return False
        accounts: dict[str, Account] = {
            Account.Kind.STANDARD: Account(
                pk=member.standard_account_id, kind=Account.Kind.STANDARD, member_id=member.id
            ),
            Account.Kind.GREEN: Account(
                pk=member.green_account_id, kind=Account.Kind.GREEN, member_id=member.id
            ),
        }
        postings = earn_postings(merchant, accounts, earned.points, earned.green_points)
        txn = None
        if postings:
            txn = ledger_post(
                kind=LedgerTransaction.Kind.EARN,
                idempotency_key=_idempotency_key(purchase),
                postings=postings,
                merchant=merchant,
                member=Member(pk=member.id),
                reference=purchase.receipt_no,
                reason="purchase",
                actor=ACTOR,
                breakdown=earned.breakdown(),
                now=self.batch_now,
            )
            if txn.replayed:
                raise ReceiptAlreadyRecorded("This receipt has already been recorded.")
        created = Purchase.objects.create(
            pk=purchase.purchase_id,
            merchant=merchant,
            member_id=member.id,
            receipt_no=purchase.receipt_no,
            occurred_at=purchase.occurred_at,
            total_fen=sum(line.amount_fen for line in purchase.lines),
            points=earned.points,
            green_points=earned.green_points,
            carbon_saved_g=earned.carbon_saved_g,
            transaction=txn,
            source=Purchase.Source.IMPORT,
            created_at=self.batch_now,
        )
        by_line = {item.line_no: item for item in earned.lines}
        PurchaseLine.objects.bulk_create(
            [
                PurchaseLine(
                    purchase=created,
                    line_no=line.line_no,
                    product_id=line.product_id,
                    category=line.category,
                    quantity=line.quantity,
                    amount_fen=line.amount_fen,
                    points=by_line[line.line_no].points,
                    green_points=by_line[line.line_no].green_points,
                    carbon_saved_g=by_line[line.line_no].carbon_saved_g,
                )
                for line in purchase.lines
            ]
        )
        return True

    def _touch_members(self, written: list[_Purchase]) -> None:
        """last_activity_at = the latest imported occurred_at, where that is newer."""
        latest: dict[int, datetime] = {}
        for purchase in written:
            seen = latest.get(purchase.member.id)
            if seen is None or purchase.occurred_at > seen:
                latest[purchase.member.id] = purchase.occurred_at
        if not latest:
            return
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE points_member m SET last_activity_at = t.latest
                  FROM unnest(%s::bigint[], %s::timestamptz[]) AS t(member_id, latest)
                 WHERE m.id = t.member_id
                   AND (m.last_activity_at IS NULL OR m.last_activity_at < t.latest)
                """,
                [list(latest), list(latest.values())],
            )

    # --- Writing: set-based ------------------------------------------------------------

    def _write_set_based(self, batch: _Batch) -> list[_Purchase]:
        purchases = batch.purchases
        self._issuance_accounts(purchases)
        if batch.staged is None:  # an issuance account was missing when it was prepared
            batch.staged = self._staged(purchases)
        now = self.batch_now = timezone.now()
        with transaction.atomic(durable=True), connection.cursor() as cursor:
            # Two imports at once take turns batch by batch, so neither trips the other.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('jifen:import_purchases'))")
            assert batch.staged is not None
            self._stage(cursor, batch.staged)
            cursor.execute(
                """
                DELETE FROM import_purchase s USING points_purchase p
                 WHERE p.merchant_id = s.merchant_id AND p.receipt_no = s.receipt_no
                RETURNING s.seq
                """
            )
            recorded = {row[0] for row in cursor.fetchall()}
            cursor.execute(
                """
                DELETE FROM import_purchase s USING points_account a
                 WHERE a.id IN (s.standard_account_id, s.green_account_id) AND a.balance < 0
                RETURNING s.seq, s.purchase_id
                """
            )
            # A credit to an account in debt repays the debt first: only ledger_post does it.
            for seq, purchase_id in sorted(set(cursor.fetchall())):
                purchases[seq].purchase_id = purchase_id
                if not self._write_one(purchases[seq]):
                    recorded.add(seq)
            ledger_bulk_earn_from_staging(
                staging_table="import_purchase", reason="purchase", actor=ACTOR, now=now
            )
            purchase_columns, purchase_values, params = _insert_from_staging(
                Purchase,
                {
                    "id": "purchase_id",
                    "transaction_id": "txn_id",
                    **{name: name for name in _STAGED_PURCHASE if name != "seq"},
                },
                {"source": Purchase.Source.IMPORT, "created_at": now},
            )
            cursor.execute(
                f"INSERT INTO {Purchase._meta.db_table} ({purchase_columns}) "
                f"SELECT {purchase_values} FROM import_purchase ORDER BY purchase_id",
                params,
            )
            # Lines of purchases dropped above (recorded, in debt) have no staged purchase.
            line_columns, line_values, params = _insert_from_staging(
                PurchaseLine,
                {"purchase_id": "p.purchase_id", **{name: f"l.{name}" for name in _STAGED_LINE}},
            )
            cursor.execute(
                f"INSERT INTO {PurchaseLine._meta.db_table} ({line_columns}) "
                f"SELECT {line_values} FROM import_line l JOIN import_purchase p USING (seq) "
                "ORDER BY p.purchase_id, l.line_no",
                params,
            )
            written = [p for seq, p in enumerate(purchases) if seq not in recorded]
            self._touch_members(written)
            cursor.execute("DROP TABLE import_purchase, import_line")
        return written

    def _issuance_accounts(self, purchases: list[_Purchase]) -> None:
        """The merchants' issuance accounts the staged credits need, created when missing."""
        for purchase in purchases:
            rules = self.rules[purchase.merchant.pk]
            if purchase.earned.points and rules.issuance is None:
                rules.issuance = issuance_account(purchase.merchant)
            if purchase.earned.green_points and rules.green_issuance is None:
                rules.green_issuance = system_account(
                    Account.Kind.GREEN_ISSUANCE, purchase.merchant
                )

    def _staged(self, purchases: list[_Purchase]) -> tuple[str, str] | None:
        """The batch's staging rows as COPY text (purchases, lines), keyed by their index in
        the batch (`seq`); None when an issuance account they need is not known yet.

        Built in the importer's thread, so the writer's thread only sends it.
        """
        rules_by_merchant = self.rules
        purchase_rows = []
        line_rows = []
        for seq, p in enumerate(purchases):
            rules = rules_by_merchant[p.merchant.pk]
            earned = p.earned
            earned_lines = earned.lines
            points = green_points = carbon_saved_g = total_fen = 0
            for line, line_earn in zip(p.lines, earned_lines, strict=True):
                points += line_earn.points
                green_points += line_earn.green_points
                carbon_saved_g += line_earn.carbon_saved_g
                total_fen += line.amount_fen
                line_rows.append(
                    f"{seq}\t{line.line_no}\t{_copy_id(line.product_id)}\t"
                    f"{line.category.pk}\t{line.quantity}\t{line.amount_fen}\t"
                    f"{line_earn.points}\t{line_earn.green_points}\t{line_earn.carbon_saved_g}\n"
                )
            issuance_id = green_issuance_id = _NULL
            if points:
                if rules.issuance is None:
                    return None
                issuance_id = str(rules.issuance.pk)
            if green_points:
                if rules.green_issuance is None:
                    return None
                green_issuance_id = str(rules.green_issuance.pk)
            earning = "t" if points or green_points else "f"
            receipt_no = _copy_text(p.receipt_no)
            member = p.member
            purchase_rows.append(
                f"{seq}\t{earning}\t{receipt_no}\t{p.occurred_at.isoformat()}\t{total_fen}\t"
                f"{carbon_saved_g}\t{_copy_text(_idempotency_key(p))}\t{p.merchant.pk}\t"
                f"{member.id}\t{receipt_no}\t"
                f"{_copy_text(_json(earned.breakdown())) if earning == 't' else _NULL}\t"
                f"{points}\t{member.standard_account_id}\t{issuance_id}\t{green_points}\t"
                f"{member.green_account_id}\t{green_issuance_id}\n"
            )
        return "".join(purchase_rows), "".join(line_rows)

    def _stage(self, cursor: CursorWrapper, staged: tuple[str, str]) -> None:
        """TEMP tables `import_purchase` (EARN_STAGING_COLUMNS and the purchase's own) and
        `import_line`, filled by COPY; purchase and transaction ids come from the sequences
        as the rows arrive."""
        types = {
            "seq": "integer",
            "earning": "boolean",
            "receipt_no": "text",
            "occurred_at": "timestamptz",
            "total_fen": "bigint",
            "carbon_saved_g": "bigint",
            **EARN_STAGING_COLUMNS,
        }
        sequence = "nextval(pg_get_serial_sequence('{}', 'id'))".format
        cursor.execute("DROP TABLE IF EXISTS import_purchase, import_line")
        cursor.execute(
            f"CREATE TEMP TABLE import_purchase ("
            f"{', '.join(f'{name} {types[name]}' for name in _STAGED_PURCHASE)}, "
            f"purchase_id bigint DEFAULT {sequence(Purchase._meta.db_table)}, "
            f"txn_id bigint DEFAULT {sequence(LedgerTransaction._meta.db_table)}"
            f") ON COMMIT DROP"
        )
        cursor.execute(
            f"CREATE TEMP TABLE import_line "
            f"({', '.join(f'{name} {kind}' for name, kind in _STAGED_LINE.items())}) "
            f"ON COMMIT DROP"
        )
        for table, columns, data in (
            ("import_purchase", _STAGED_PURCHASE, staged[0]),
            ("import_line", _STAGED_LINE, staged[1]),
        ):
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                copy.write(data.encode())
        # A purchase that earns nothing has no ledger transaction (its id is left unused).
        cursor.execute("UPDATE import_purchase SET txn_id = NULL WHERE NOT earning")


# The staging rows' columns in `_staged`'s order (purchase_id and txn_id come from defaults).
_STAGED_PURCHASE = (
    "seq",
    "earning",
    "receipt_no",
    "occurred_at",
    "total_fen",
    "carbon_saved_g",
    "idempotency_key",
    "merchant_id",
    "member_id",
    "reference",
    "breakdown",
    "points",
    "standard_account_id",
    "issuance_account_id",
    "green_points",
    "green_account_id",
    "green_issuance_account_id",
)
_STAGED_LINE = {
    "seq": "integer",
    "line_no": "integer",
    "product_id": "bigint",
    "category_id": "bigint",
    "quantity": "integer",
    "amount_fen": "bigint",
    "points": "bigint",
    "green_points": "bigint",
    "carbon_saved_g": "bigint",
}
_NULL = "\\N"  # NULL in COPY's text format


def _insert_from_staging(
    model: type[models.Model], staged: dict[str, str], given: dict[str, Any] | None = None
) -> tuple[str, str, list[Any]]:
    """The column list of `model`'s table (from the model, so a new field is never left out)
    and the SELECT list filling it: `staged[attname]` (an expression over the staging tables),
    else `given[attname]` (a parameter), else the field's default (a parameter). The auto
    primary key is left to its sequence unless staged."""
    given = given or {}
    columns, values, params = [], [], []
    for model_field in model._meta.concrete_fields:
        name = model_field.attname
        if name in staged:
            values.append(staged[name])
        elif model_field.primary_key:
            continue
        else:
            value = given[name] if name in given else model_field.get_default()
            values.append("%s")
            params.append(model_field.get_db_prep_save(value, connection))
        columns.append(quote(model_field.column))
    return ", ".join(columns), ", ".join(values), params


def _copy_id(value: int | None) -> str:
    return _NULL if value is None else str(value)


def _copy_text(value: str) -> str:
    """`value` as a field of COPY's text format."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


def _idempotency_key(purchase: _Purchase) -> str:
    return purchase_idempotency_key(purchase.merchant.pk, purchase.receipt_no)


def _whole_number(row: _Row, name: str, raw: str) -> int:
    """The CSV text of a whole number as an int; its range is `purchase_validation`'s."""
    if not _DIGITS.fullmatch(raw):
        raise _Rejected(row, f"{name} {raw!r} is not a positive whole number")
    digits = raw.lstrip("0") or "0"
    return int(digits) if len(digits) <= 19 else 10**19  # past every limit, not a huge int


@contextmanager
def _rejecting(row: _Row) -> Iterator[None]:
    """`InvalidPurchase` as this row's rejection, its reason naming the column."""
    try:
        yield
    except InvalidPurchase as error:
        column = (error.field or "").rsplit(".", 1)[-1]
        raise _Rejected(row, f"{column}: {error}" if column else str(error)) from None


T = TypeVar("T")


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
