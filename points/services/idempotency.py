"""Answering a till's request once per Idempotency-Key (the POS API's stored answers).

The answer is stored in the same transaction as the work it describes (or, for work done in
one statement, in that statement: `AnswerSlot`), under a unique index on (terminal, key). A
repeated key is not looked up first (retries are rare; a lookup on every request is a round
trip): the work runs again, finds itself done or the key taken, everything it did is rolled
back (or never written), and the stored answer is given instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from merchants.models import Terminal
from points.models import ApiIdempotencyRecord
from points.services.retry import call_with_db_retry
from points.statements import AttachedWrite, fetch_joined, insert_row

MAX_KEY_LENGTH = 200


class IdempotencyKeyInvalid(Exception):
    """No key, or not 1 to 200 printable characters."""

    code = "idempotency_key_required"


class IdempotencyKeyReused(Exception):
    """The key was used before with a different request."""

    code = "idempotency_key_reused"


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class AnswerSlot:
    """Where this request's answer is stored, for work that writes it in its own statement."""

    terminal_id: int
    key: str
    request_hash: str

    def attached(
        self, *, status_code: int, body_sql: str, body_params: Sequence[Any]
    ) -> AttachedWrite:
        """The stored answer as a write attached to the work's one statement (`FROM txn`:
        nothing is stored if the work writes nothing). `body_sql` builds the JSON body from
        the statement's CTEs; the body stored is returned as `api_answer`."""
        table = ApiIdempotencyRecord._meta.db_table
        return AttachedWrite(
            name="api_answer",
            sql=(
                f"INSERT INTO {table} "
                "(terminal_id, key, request_hash, status_code, response, created_at) "
                "SELECT %s::bigint, %s::varchar, %s::varchar, %s::smallint, "
                f"{body_sql}, %s::timestamptz FROM txn RETURNING response"
            ),
            params=[
                self.terminal_id,
                self.key,
                self.request_hash,
                status_code,
                *body_params,
                timezone.now(),
            ],
            returns="(SELECT response FROM api_answer)",
        )


def idempotency_key_check(key: object) -> str:
    """A key a till may send: 1 to 200 printable characters."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise IdempotencyKeyInvalid(
            "Every POST needs an Idempotency-Key header (1-200 printable chars)."
        )
    return key


def request_hash_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def answer_record_once(
    *,
    terminal: Terminal,
    key: str,
    request_body: bytes,
    work: Callable[[], tuple[int, dict[str, Any]]],
    replay_on: tuple[type[BaseException], ...] = (),
    at_once: Callable[[AnswerSlot], tuple[int, dict[str, Any]] | None] | None = None,
) -> Answer:
    """Run `work` (which returns a status and a JSON body) and store its answer for
    (`terminal`, `key`), in one transaction; or give the answer stored before.

    A deadlock or serialization failure is rerun (then `DatabaseBusy`). When the key's row
    already exists (the unique index stops the insert) or `work` raises one of `replay_on`
    (e.g. "receipt already recorded" from a request that raced this one), the stored answer
    is returned with `replayed`; if there is none, the error stands. A stored answer for
    another request body raises `IdempotencyKeyReused`.

    `at_once`, when given, is tried first, outside a transaction: work that can do the whole
    thing in one statement stores the answer there itself (`AnswerSlot.attached`) and
    returns it, saving the transaction's BEGIN, INSERT and COMMIT round trips; or it writes
    nothing and returns None, and `work` runs as above.
    """
    idempotency_key_check(key)
    request_hash = request_hash_of(request_body)

    slot = AnswerSlot(terminal_id=terminal.pk, key=key, request_hash=request_hash)

    def record_once() -> Answer:
        if at_once is not None:
            if connection.in_atomic_block:
                # Inside a caller's transaction (a test's, say), a refused statement must
                # not abort it: a savepoint. Outside one, the statement is its own.
                with transaction.atomic():
                    done = at_once(slot)
            else:
                done = at_once(slot)
            if done is not None:
                return Answer(*done)
        with transaction.atomic(durable=True):
            status_code, body = work()
            insert_row(
                ApiIdempotencyRecord(
                    terminal=terminal,
                    key=key,
                    request_hash=request_hash,
                    status_code=status_code,
                    response=body,
                )
            )
        return Answer(status_code, body)

    replayable: tuple[type[BaseException], ...] = (IntegrityError, *replay_on)
    try:
        return call_with_db_retry(record_once)
    except replayable:
        stored = answer_stored(terminal=terminal, key=key, request_hash=request_hash)
        if stored is None:
            raise
        return stored


def answer_stored(*, terminal: Terminal, key: str, request_hash: str) -> Answer | None:
    """The answer stored for (`terminal`, `key`), if any; `IdempotencyKeyReused` if it was
    for another request."""
    found = fetch_joined(
        ((ApiIdempotencyRecord, "record"),),
        f"FROM {ApiIdempotencyRecord._meta.db_table} record "
        "WHERE record.terminal_id = %s::bigint AND record.key = %s::varchar",
        [terminal.pk, key],
    )
    if found is None:
        return None
    record = cast(ApiIdempotencyRecord, found[0])
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different body.")
    return Answer(record.status_code, record.response, replayed=True)
