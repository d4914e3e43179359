"""Hand-written SQL for the hot write paths: rows as JSON, prepared statements.

The earn path is bounded by round trips and by the Python spent per statement, not by
PostgreSQL's work (bench/README.md). Its few statements are therefore written once per
process as SQL; they are bound and prepared on the server (parameters travel apart from
the text, and PostgreSQL parses and plans each statement once per connection),
and a whole row travels as one JSON parameter that PostgreSQL turns into the table's row
type (`jsonb_populate_record`): one value to adapt in Python instead of one per column.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.db import connection, models
from django.db.models import signals
from django.db.models.base import ModelState

M = TypeVar("M", bound=models.Model)


def quote(name: str | None) -> str:
    assert name is not None  # a concrete field's column
    return connection.ops.quote_name(name)


def compact(sql: str) -> str:
    """`sql` on one line, without `--` comments: shorter statements are cheaper to send and
    psycopg keeps the conversion of those under 4 kB."""
    lines = (line.split("--", 1)[0] for line in sql.splitlines())
    return " ".join(" ".join(lines).split())


@functools.cache
def insert_fields(model: type[models.Model]) -> tuple[list[models.Field], str]:
    """The concrete non-primary-key fields of `model` and their quoted column list."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    return fields, ", ".join(quote(f.column) for f in fields)


def insert_values(instance: models.Model, fields: Sequence[models.Field]) -> list:
    """The values of an unsaved `instance` for `fields`, as the ORM would write them
    (defaults, `auto_now_add`, JSON adaptation)."""
    return [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]


def _json_scalar(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot be a column value in a JSON row")


_AS_THEY_ARE = (int, str, bool, type(None))


def _row(instance: models.Model, fields: Sequence[models.Field]) -> dict:
    row = {}
    for f in fields:
        value = f.pre_save(instance, add=True)
        if isinstance(f, models.JSONField):
            row[f.column] = value  # the JSON value itself, nested in the row
        elif isinstance(value, _AS_THEY_ARE) or (
            isinstance(value, datetime) and value.tzinfo is not None
        ):
            row[f.column] = value  # what the ORM would write, without its per-value calls
        else:
            row[f.column] = f.get_db_prep_save(value, connection)
    return row


def to_json(value) -> str:
    """`value` as JSON for a `::jsonb` parameter (dates as ISO 8601, Decimals as strings)."""
    return json.dumps(value, default=_json_scalar, ensure_ascii=False)


@functools.cache
def _defaults(model: type[models.Model]) -> tuple[list, frozenset]:
    fields = [(f.attname, f.column, f) for f in model._meta.concrete_fields if not f.primary_key]
    return fields, frozenset(attname for attname, _, _ in fields)


def new_row(model: type[models.Model], **values) -> dict:
    """{column: value} of a new row of `model`: the given values (by attribute name, e.g.
    `product_id`) and every other column's default, without building a model instance."""
    fields, attnames = _defaults(model)
    unknown = values.keys() - attnames
    if unknown:
        raise TypeError(f"{model.__name__} has no column for {sorted(unknown)}")
    return {
        column: values[attname] if attname in values else f.get_default()
        for attname, column, f in fields
    }


@functools.cache
def _init_layout(model: type[models.Model]) -> tuple:
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        raise TypeError(f"{model.__name__} listens to its own creation: build it with ()")
    return tuple((f.attname, f.name, f) for f in model._meta.concrete_fields)


def unsaved(model: type[M], **values: Any) -> M:
    """A new, unsaved `model(**values)` for the earn path, without `Model.__init__` and its
    descriptor call and dictionary lookups per field: 12 instead of 29 µs for a purchase,
    about 50 µs per purchase in all (bench/README.md). Related objects (`member=`) are
    cached as the ORM caches them; ids (`member_id=`) work too; every other field gets its
    default. Not for models with init signal receivers (refused, checked once per model)."""
    state, related = {}, []
    for attname, name, f in _init_layout(model):
        if name != attname and name in values:
            obj = values.pop(name)
            state[attname] = None if obj is None else obj.pk
            related.append((f, obj))
        elif attname in values:
            state[attname] = values.pop(attname)
        else:
            state[attname] = None if f.primary_key else f.get_default()
    if values:
        raise TypeError(f"{model.__name__} has no field for {sorted(values)}")
    instance = model.__new__(model)
    instance._state = ModelState()
    instance.__dict__.update(state)
    for f, obj in related:
        f.set_cached_value(instance, obj)
    return instance


def json_row(instance: models.Model, fields: Sequence[models.Field]) -> str:
    """The unsaved `instance` as one JSON object {column: value}, for `from_json_row`."""
    return json.dumps(_row(instance, fields), default=_json_scalar, ensure_ascii=False)


def from_json_row(model: type[models.Model], alias: str) -> str:
    """A FROM item: the JSON parameter as one row of `model`'s table, called `alias`. Each
    value is read by its column's own input function, so the table's types and constraints
    apply as for any INSERT."""
    table = quote(model._meta.db_table)
    return f"jsonb_populate_record(NULL::{table}, %s::jsonb) AS {alias}"


def from_json_rows(model: type[models.Model], alias: str) -> str:
    """A FROM item: the JSON array parameter as rows of `model`'s table, called `alias`, in
    their order (`{alias}.ordinality`)."""
    table = quote(model._meta.db_table)
    return f"jsonb_populate_recordset(NULL::{table}, %s::jsonb) WITH ORDINALITY AS {alias}"


@contextmanager
def hot_cursor():
    """A cursor for one of the few statements run on every purchase. With
    `DATABASE_PREPARED_STATEMENTS` (the default) the connection binds parameters on the
    server and prepares a statement it runs repeatedly (config/settings/base.py sets
    psycopg's `server_side_binding` and `prepare_threshold` through Django's OPTIONS), so
    this is Django's own cursor: query logging and `assertNumQueries` see it as any other."""
    with connection.cursor() as cursor:
        yield cursor


@dataclass(frozen=True)
class AttachedWrite:
    """A write that belongs with a ledger posting, such as the purchase that earned it: the
    body of a data-modifying CTE called `name`, run in the posting's own statement
    (`ledger_credit_at_once`) or, after a posting, with `attached_writes_run`. It selects
    `FROM txn` (the transaction's id is `txn.id`), so it writes nothing when the posting
    writes nothing. Its placeholders are typed (`%s::bigint`). `returns`, a SQL expression
    such as `(SELECT id FROM purchase)`, comes back under `name`."""

    name: str
    sql: str
    params: Sequence = ()
    returns: str | None = None


def attached_ctes(writes: Sequence[AttachedWrite]) -> tuple[str, str, list]:
    """The writes as `, name AS (...)` CTEs, their returned expressions as `, expr` select
    items, and their parameters in order."""
    ctes = "".join(f", {w.name} AS ({w.sql})" for w in writes)
    returns = "".join(f", {w.returns}" for w in writes if w.returns)
    params = [param for w in writes for param in w.params]
    return ctes, returns, params


def attached_writes_run(writes: Sequence[AttachedWrite], *, txn_id: int | None) -> dict:
    """Run the writes, in one statement, for a transaction already posted (or none: `txn.id`
    is then NULL). PostgreSQL only. Returns {name: value} for the writes that return one."""
    ctes, returns, params = attached_ctes(writes)
    sql = compact(f"WITH txn AS (SELECT %s::bigint AS id){ctes} SELECT true{returns}")
    with hot_cursor() as cursor:
        cursor.execute(sql, [txn_id, *params])
        _, *returned = cursor.fetchone()
    return dict(zip([w.name for w in writes if w.returns], returned, strict=True))


@functools.cache
def _select_list(chain: tuple[tuple[type[models.Model], str], ...]) -> tuple[str, list, list]:
    items, layout, conversions, start = [], [], [], 0
    for model, alias in chain:
        fields = model._meta.concrete_fields
        for index, f in enumerate(fields, start):
            items.append(f"{alias}.{quote(f.column)}")
            column = f.get_col(alias)
            # The converters the ORM applies to this column (JSON text, say).
            converters = connection.ops.get_db_converters(column) + f.get_db_converters(connection)
            if converters:
                conversions.append((index, column, converters))
        layout.append((model, [f.attname for f in fields], start, start + len(fields)))
        start += len(fields)
    return ", ".join(items), layout, conversions


def fetch_joined(
    chain: Sequence[tuple[type[models.Model], str]], from_sql: str, params: Sequence
) -> tuple[models.Model, ...] | None:
    """The first row of `SELECT <every column of each (model, alias)> <from_sql>` as one
    model instance per (model, alias), or None: a `select_related` lookup for the hot path,
    as one prepared statement whose SQL is built once (the caller links the instances)."""
    found = fetch_joined_with(chain, from_sql, params)
    return None if found is None else found[0]


def fetch_joined_with(
    chain: Sequence[tuple[type[models.Model], str]],
    from_sql: str,
    params: Sequence,
    *,
    with_sql: str = "",
    extra: Sequence[str] = (),
) -> tuple[tuple[models.Model, ...], list[Any]] | None:
    """`fetch_joined`, after a `WITH ...` prefix (`with_sql`, whose parameters come first in
    `params`) and with `extra` SQL expressions selected after the models' columns: the
    instances and the extra values as they come (one round trip for both)."""
    select, layout, conversions = _select_list(tuple(chain))
    extras = "".join(f", {expression}" for expression in extra)
    with hot_cursor() as cursor:
        cursor.execute(f"{with_sql} SELECT {select}{extras} {from_sql}", params)
        row = cursor.fetchone()
    if row is None:
        return None
    row = list(row)
    for index, column, converters in conversions:
        for converter in converters:
            row[index] = converter(row[index], column, connection)
    instances = tuple(
        model.from_db(connection.alias, names, row[start:end])
        for model, names, start, end in layout
    )
    return instances, row[layout[-1][3] :] if layout else row


def insert_row(instance: M) -> M:
    """INSERT the unsaved `instance` as one prepared statement (its row as JSON) and set its
    primary key; database errors (a unique constraint, say) are raised as the ORM's are."""
    model = type(instance)
    fields, columns = insert_fields(model)
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "
        f"SELECT {columns} FROM {from_json_row(model, 'new_row')} "
        f"RETURNING {quote(model._meta.pk.column)}"
    )
    with hot_cursor() as cursor:
        cursor.execute(sql, [json_row(instance, fields)])
        return saved_as(instance, cursor.fetchone()[0])


def saved_as(instance: M, pk: Any) -> M:
    """Mark an instance written by our own SQL as the ORM marks a saved one: its primary key,
    no longer `adding`, and the database it is in."""
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance
