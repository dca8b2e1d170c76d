"""Committing an import: consecutive batches share one transaction until it has been open long enough.

Every commit of a big import rewrites the index pages its random keys landed on (a profile's orders,
its events, phone lookup keys): on SQLite each such page goes to the WAL again, whatever few rows
changed on it. Committing every second instead of every batch cuts that work by the number of batches
a second holds. The bound is in time so the write lock that SQLite's other writers (the gateway) wait
for is held about `seconds`, however fast or slow the batches are.

A transaction that fails for a transient reason (a deadlock, a busy database) is rolled back and its
batches are written again in a fresh one, so it keeps the all-or-nothing of a single batch. Nothing
about a batch is counted before its transaction has committed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from base.clock import Clock
from orders.retry import DATABASE_ERRORS, is_transient, retrying
from orders.wire import WireBatch
from orders.writer import BatchOutcome, BatchWriter
from storage.db import take_write_lock, writers_waiting

# How long a transaction stays open for more batches, and at most how many orders it takes.
COMMIT_SECONDS = 1.0
COMMIT_ORDERS = 50_000


@dataclass(frozen=True)
class Committed:
    """A batch whose transaction committed, with what it did."""

    batch: WireBatch
    outcome: BatchOutcome


class TransactionGroup:
    """Writes batches into the open transaction of `conn` and commits when it is due.

    `await group.write(batch)` and `await group.finish()` return the batches that have just committed
    (often none: the transaction is still open), in file order.
    """

    def __init__(
        self,
        conn: AsyncConnection,
        writer: BatchWriter,
        clock: Clock,
        *,
        seconds: float = COMMIT_SECONDS,
        max_orders: int = COMMIT_ORDERS,
    ) -> None:
        self._conn = conn
        self._writer = writer
        self._clock = clock
        self._seconds = seconds
        self._max_orders = max_orders
        self._batches: list[WireBatch] = []
        self._outcomes: list[BatchOutcome] = []
        self._opened = 0.0

    async def write(self, batch: WireBatch) -> list[Committed]:
        """Write one batch; commit it (and the batches before it) when the transaction is due."""
        self._batches.append(batch)
        try:
            if not self._conn.in_transaction():
                await self._conn.begin()
                await take_write_lock(self._conn)
                self._opened = time.monotonic()
            self._wrote(await self._writer.write(self._conn, batch, self._clock.now()))
        except DATABASE_ERRORS as error:
            return await self._write_again_after(error)
        return await self._commit() if await self._due() else []

    async def finish(self) -> list[Committed]:
        """Commit what is still open."""
        return await self._commit() if self._batches else []

    async def _commit(self) -> list[Committed]:
        try:
            await self._conn.commit()
        except DATABASE_ERRORS as error:
            return await self._write_again_after(error)
        return self._committed()

    async def _write_again_after(self, error: BaseException) -> list[Committed]:
        """Roll back after a transient failure and write the transaction's batches again; re-raise any
        other failure (the caller's connection then rolls back)."""
        if not is_transient(error):
            raise error
        await self._rollback()
        return await retrying(self._write_again)

    async def _due(self) -> bool:
        orders = sum(len(batch.orders) for batch in self._batches)
        if orders >= self._max_orders or time.monotonic() - self._opened >= self._seconds:
            return True
        # Callbacks, jobs or another import wait for SQLite's one writer, or on PostgreSQL for rows this
        # transaction wrote (a binding of a phone just imported): let them in now.
        return await writers_waiting(self._conn)

    def _wrote(self, outcome: BatchOutcome) -> None:
        self._outcomes.append(outcome)
        self._writer.written(outcome)

    async def _write_again(self) -> list[Committed]:
        """Every batch of the failed transaction, in a fresh one, committed at once."""
        try:
            async with self._conn.begin():
                await take_write_lock(self._conn)
                for batch in self._batches:
                    self._wrote(await self._writer.write(self._conn, batch, self._clock.now()))
        except BaseException:
            self._forget()
            raise
        return self._committed()

    async def _rollback(self) -> None:
        if self._conn.in_transaction():
            await self._conn.rollback()
        self._forget()

    def _forget(self) -> None:
        self._outcomes = []
        self._writer.rolled_back()

    def _committed(self) -> list[Committed]:
        self._writer.committed()
        done = [Committed(batch, outcome) for batch, outcome in zip(self._batches, self._outcomes, strict=True)]
        self._batches, self._outcomes = [], []
        return done
