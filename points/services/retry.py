"""Retrying a durable write when PostgreSQL aborts it for a lock conflict.

Every writer locks member accounts in primary-key order, so a deadlock should not happen; but
the rows a service locks first (a reward, a purchase, a redemption) are not all accounts, and
PostgreSQL may still abort one of two transactions with `deadlock detected` or, under a
stricter isolation level, `could not serialize access`. Both leave nothing written, so the
whole call is safe to run again. Adapters (API views, member views, tasks) call services
through `call_with_db_retry`; services themselves stay retry-free.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.db import OperationalError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_ATTEMPTS = 3


class DatabaseBusy(Exception):
    """A write was aborted by lock conflicts on every attempt; nothing was written."""

    code = "database_busy"

    def __init__(self, attempts: int):
        self.attempts = attempts
        super().__init__(
            f"The database aborted this write {attempts} times because of concurrent "
            "changes; nothing was recorded. Please retry."
        )


def is_retryable(error: BaseException) -> bool:
    """A deadlock or serialization failure: PostgreSQL rolled the transaction back."""
    if not isinstance(error, OperationalError):
        return False
    try:
        from psycopg import errors as pg_errors
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    cause = error.__cause__
    return isinstance(cause, pg_errors.DeadlockDetected | pg_errors.SerializationFailure)


def call_with_db_retry(
    func: Callable[..., T], *args: Any, attempts: int = DEFAULT_ATTEMPTS, **kwargs: Any
) -> T:
    """Run `func(*args, **kwargs)`; rerun it (up to `attempts` runs in all) when the database
    aborts it with a deadlock or serialization failure, then raise `DatabaseBusy`.

    Only an outermost call can be retried (the aborted transaction must be the whole unit),
    so inside an open atomic block the first error is raised as it is.
    """
    for attempt in range(1, attempts + 1):
        try:
            return func(*args, **kwargs)
        except OperationalError as error:
            if not is_retryable(error) or connection.in_atomic_block:
                raise
            logger.warning(
                "%s aborted by the database (%s), attempt %d of %d",
                getattr(func, "__qualname__", func),
                error.__cause__,
                attempt,
                attempts,
            )
            if attempt == attempts:
                raise DatabaseBusy(attempts) from error
            time.sleep(random.uniform(0.01, 0.05) * attempt)  # let the other writer finish
    raise AssertionError("unreachable")  # pragma: no cover


def db_retry(func: Callable[..., T]) -> Callable[..., T]:
    """Decorator form of `call_with_db_retry` (default attempts)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return call_with_db_retry(func, *args, **kwargs)

    return wrapper
