"""Retrying a transaction the database aborted only because of another writer (deadlock, busy)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from asyncpg import PostgresError
from sqlalchemy.exc import DBAPIError, OperationalError

T = TypeVar("T")
ATTEMPTS = 6
# PostgreSQL deadlock_detected, serialization_failure, and unique_violation: an import copies orders it
# found missing straight into the table, and one a concurrent import added meanwhile is a retry that
# finds it (storage.orders.upsert_orders). SQLite's lock messages.
_TRANSIENT_CODES = ("40P01", "40001", "23505")
_TRANSIENT_TEXT = ("deadlock detected", "database is locked", "could not serialize")


# Errors a transaction can fail with: SQLAlchemy's, and the driver's own from a COPY sent through it.
DATABASE_ERRORS = (DBAPIError, OperationalError, PostgresError)


def is_transient(error: BaseException) -> bool:
    """True when a retry of the same transaction can succeed."""
    if isinstance(error, PostgresError):
        return error.sqlstate in _TRANSIENT_CODES
    if not isinstance(error, DBAPIError | OperationalError):
        return False
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    text = str(error).lower()
    return code in _TRANSIENT_CODES or any(marker in text for marker in _TRANSIENT_TEXT)


async def retrying(work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` (one whole transaction), again after a transient conflict, with jittered back-off."""
    for attempt in range(ATTEMPTS):
        try:
            return await work()
        except DATABASE_ERRORS as error:
            if attempt == ATTEMPTS - 1 or not is_transient(error):
                raise
            # Jitter so two importers that collided do not collide again in lock-step.
            await asyncio.sleep(0.05 * (2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover
