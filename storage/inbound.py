"""The `inbound_events` ledger: one row per callback, claimed by INSERT so duplicates are found everywhere.

Rules (the same for every gateway process, because the database is the only shared memory):

- **Claim.** The first delivery inserts its de-duplication key; the unique index makes every later
  delivery of the same message (WeChat's retries, in this or any other process) a conflict, so a handler
  never runs twice.
- **Finish.** When the handler is done the row becomes `done` with the reply document and how it went
  out (`inline`, `api` or `none`); a retry answers with that reply.
- **Stale rows.** A row still `processing` after `STALE_AFTER` belongs to a process that died (or hung)
  mid-callback. WeChat has stopped retrying by then (its retries span ~15 s), so a late duplicate gets
  `success` at once rather than waiting, and `purge_deliveries` marks such rows `abandoned`.
- **Retention.** Rows are kept for `RETENTION` (far beyond the retry window) and then deleted by
  `purge_deliveries`, a scheduled job, never on the hot path.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database
from storage.formats import utc_text
from storage.group_commit import (
    BatchedStatement,
    ChainedBatch,
    GroupCommit,
    Write,
    group_commit,
)
from storage.models.core import InboundEvent

STALE_AFTER = timedelta(seconds=60)
RETENTION = timedelta(days=1)

PROCESSING = "processing"
DONE = "done"
ABANDONED = "abandoned"

_T = TypeVar("_T")
_table = InboundEvent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Delivery:
    """What a retry needs to know about the first delivery of its message."""

    id: int
    state: str
    reply: dict[str, Any] | None
    delivered_via: str
    received_at: datetime

    def is_stale(self, now: datetime) -> bool:
        return self.state == PROCESSING and now - self.received_at > STALE_AFTER


async def retry_when_locked(operation: Callable[[], Awaitable[_T]], attempts: int = 5) -> _T:
    """Run `operation`, retrying when SQLite reports "database is locked".

    busy_timeout normally queues writers, but SQLite gives up at once when a transaction that read first
    then tries to write after another writer committed; the whole transaction is then simply re-run.
    """
    for attempt in range(attempts):
        try:
            return await operation()
        except OperationalError as error:
            if "database is locked" not in str(error) or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Claim(Generic[_T]):
    """The outcome of `claim_and_write`."""

    # The ledger id when this delivery is the first of its message; None for a retry (`then` did not run).
    delivery_id: int | None
    # What `then` returned, when it ran and succeeded.
    written: _T | None = None
    # Why `then` failed; its changes were rolled back to a savepoint and the claim still stands.
    error: Exception | None = None


async def claim_delivery(
    db: Database,
    *,
    dedup_key: str,
    appid: str,
    openid: str,
    kind: str,
    msg_id: str | None,
    received_at: datetime,
    payload: dict[str, Any],
    writer: GroupCommit | None = None,
) -> int | None:
    """Insert the delivery; its row id when this call claimed it, None when it is a duplicate."""
    claim: Claim[None] = await claim_and_write(
        db,
        dedup_key=dedup_key,
        appid=appid,
        openid=openid,
        kind=kind,
        msg_id=msg_id,
        received_at=received_at,
        payload=payload,
        writer=writer,
    )
    return claim.delivery_id


async def claim_and_write(
    db: Database,
    *,
    dedup_key: str,
    appid: str,
    openid: str,
    kind: str,
    msg_id: str | None,
    received_at: datetime,
    payload: dict[str, Any],
    writer: GroupCommit | None = None,
    then: Write[_T] | None = None,
) -> Claim[_T]:
    """Insert the delivery and, only when this call claimed it, run `then` in the same transaction.

    One hop and one commit instead of two for the callback's first writes (the claim and the follower's
    interaction). A retry, in this process or another, conflicts on the claim and so never runs `then`.
    `then` runs under a savepoint: its failure is returned in `Claim.error` and leaves the claim in place,
    as a failure after a separate claim would have.
    """
    kind, msg_id = kind[:64], msg_id[:64] if msg_id else None

    async def engine_step(conn: AsyncConnection) -> Claim[_T]:
        # Built only when used: the SQLite path never pays for compiling it.
        statement = (
            postgresql.insert(_table)
            .values(
                dedup_key=dedup_key,
                appid=appid,
                openid=openid,
                kind=kind,
                msg_id=msg_id,
                received_at=received_at,
                state=PROCESSING,
                delivered_via="none",
                payload=payload,
            )
            .on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(_table.c.id)
        )
        row = (await conn.execute(statement)).first()
        if row is None:
            return Claim(None)
        if then is None:
            return Claim(int(row[0]))
        try:
            async with conn.begin_nested():
                written = await then.engine_step(conn)
        except Exception as error:  # noqa: BLE001 - handed to the caller, which reports it
            return Claim(int(row[0]), error=error)
        return Claim(int(row[0]), written)

    document = json.dumps(payload)
    pg_params = (dedup_key, appid, openid, kind, msg_id, received_at, PROCESSING, document)

    async def driver_step(connection: Any) -> Claim[_T]:
        if then is not None and then.chained is not None:
            chained = then.chained
            sql = chained.sql(_PG_CLAIM_CTE, "claim_", len(pg_params) + 1)
            try:
                # One round trip: the claim, and `then` only when the claim inserted its row.
                row = await connection.fetchrow(sql, *pg_params, *chained.params)
            except Exception:  # noqa: BLE001 - retried below in two statements, which report the cause
                row = _FAILED
            if row is None:
                return Claim(None)
            if row is not _FAILED:
                return Claim(int(row["guard_id_"]), chained.result(row))
        # The claim commits on its own; `then` follows as a statement of its own, so its failure leaves
        # the claim standing, as the savepoint does in the other spellings.
        claimed = await connection.fetchval(_PG_CLAIM_SQL, *pg_params)
        if claimed is None:
            return Claim(None)
        if then is None or then.driver_step is None:
            return Claim(int(claimed))
        try:
            return Claim(int(claimed), await then.driver_step(connection))
        except Exception as error:  # noqa: BLE001 - handed to the caller, which reports it
            return Claim(int(claimed), error=error)

    def sqlite_step(cursor: sqlite3.Cursor) -> Claim[_T]:
        cursor.execute(_CLAIM_SQL, (*pg_params[:5], utc_text(received_at), PROCESSING, document))
        row = cursor.fetchone()
        if row is None:
            return Claim(None)
        if then is None:
            return Claim(int(row[0]))
        cursor.execute("SAVEPOINT claim_then")
        try:
            written = then.sqlite_step(cursor)
        except Exception as error:  # noqa: BLE001 - handed to the caller, which reports it
            cursor.execute("ROLLBACK TO claim_then")
            cursor.execute("RELEASE claim_then")
            return Claim(int(row[0]), error=error)
        cursor.execute("RELEASE claim_then")
        return Claim(int(row[0]), written)

    driver = driver_step if then is None or then.driver_step is not None else None
    batch = then.chained.batch if then is not None and then.chained is not None else None
    if batch is not None and driver is not None and db.is_postgres:
        # On PostgreSQL the claims of callbacks arriving together go as one statement (one round trip, one
        # commit), as their finishes do.
        row = (dedup_key, appid, openid, kind, msg_id, received_at, document, *batch.values)
        keys = (("dedup", dedup_key), *batch.keys)
        statement = _claims_statement(batch)
        return await (writer or group_commit(db)).submit_batched(statement, row, keys, sqlite_step, engine_step, driver)
    return await (writer or group_commit(db)).submit(sqlite_step, engine_step, driver)


# The claim's own columns of `input_` in a batched claim, in the order of a row's values.
_CLAIM_COLUMNS = (
    ("key_", "text"),
    ("appid_", "text"),
    ("openid_", "text"),
    ("kind_", "text"),
    ("msg_id_", "text"),
    ("received_at_", "timestamptz"),
    ("payload_", "jsonb"),
)
_claim_statements: dict[Hashable, BatchedStatement] = {}


def _claims_statement(batch: ChainedBatch[_T]) -> BatchedStatement:
    """The statement that claims many deliveries at once and runs `batch`'s write for each one claimed."""
    statement = _claim_statements.get(batch.shape)
    if statement is not None:
        return statement
    columns = (*_CLAIM_COLUMNS, *batch.columns)
    arrays = ", ".join(f"${n}::{kind}[]" for n, (_name, kind) in enumerate(columns, start=1))
    # Every row's claim in one INSERT; duplicates in one statement never meet (their keys keep them apart).
    # Column names and types are storage's own text, never input.
    before = (
        f"input_ AS (SELECT * FROM unnest({arrays}) AS i({', '.join(name for name, _kind in columns)})),"  # noqa: S608
        " claim_ AS (INSERT INTO inbound_events (dedup_key, appid, openid, kind, msg_id, received_at, state,"
        " delivered_via, payload) SELECT key_, appid_, openid_, kind_, msg_id_, received_at_, 'processing',"
        " 'none', payload_ FROM input_ ORDER BY key_ ON CONFLICT (dedup_key) DO NOTHING"
        " RETURNING id, dedup_key AS key_)"
    )
    sql, result = batch.sql(before, "claim_"), batch.result

    async def run(connection: Any, rows: list[tuple[Any, ...]]) -> list[Claim[Any]]:
        written = {record["key_"]: record for record in await connection.fetch(sql, *zip(*rows, strict=True))}
        claims: list[Claim[Any]] = []
        for row in rows:
            record = written.get(row[0])
            claims.append(Claim(None) if record is None else Claim(int(record["guard_id_"]), result(record)))
        return claims

    statement = _claim_statements[batch.shape] = BatchedStatement(f"claims {batch.shape}", run)
    return statement


_PG_CLAIM_SQL = (
    "INSERT INTO inbound_events (dedup_key, appid, openid, kind, msg_id, received_at, state, delivered_via, payload)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, 'none', $8) ON CONFLICT (dedup_key) DO NOTHING RETURNING id"
)
# The claim as the leading CTE of a chained statement (storage.group_commit.ChainedStatement).
_PG_CLAIM_CTE = (
    "claim_ AS (INSERT INTO inbound_events (dedup_key, appid, openid, kind, msg_id, received_at, state,"
    " delivered_via, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, 'none', $8)"
    " ON CONFLICT (dedup_key) DO NOTHING RETURNING id)"
)
# A chained statement that failed as a whole: nothing of it was written, so it runs again in two parts.
_FAILED = object()
_PG_FINISH_SQL = "UPDATE inbound_events SET state = $1, reply = $2, delivered_via = $3, finished_at = $4 WHERE id = $5"
_CLAIM_SQL = (
    "INSERT INTO inbound_events (dedup_key, appid, openid, kind, msg_id, received_at, state, delivered_via, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, 'none', ?) ON CONFLICT (dedup_key) DO NOTHING RETURNING id"
)
_FINISH_SQL = "UPDATE inbound_events SET state = ?, reply = ?, delivered_via = ?, finished_at = ? WHERE id = ?"


async def find_delivery(db: Database, dedup_key: str) -> Delivery | None:
    """The ledger row of a de-duplication key, if any."""
    statement = select(_table.c.id, _table.c.state, _table.c.reply, _table.c.delivered_via, _table.c.received_at).where(
        _table.c.dedup_key == dedup_key
    )
    async with db.engine.connect() as conn:
        row = (await conn.execute(statement)).first()
    if row is None:
        return None
    return Delivery(
        id=row.id, state=row.state, reply=row.reply, delivered_via=row.delivered_via, received_at=row.received_at
    )


async def finish_delivery(
    db: Database,
    delivery_id: int,
    *,
    reply: dict[str, Any] | None,
    delivered_via: str,
    finished_at: datetime,
    writer: GroupCommit | None = None,
) -> None:
    """Mark the delivery done with its reply document (None when the answer was `success`)."""

    async def engine_step(conn: AsyncConnection) -> None:
        statement = (
            update(_table)
            .where(_table.c.id == delivery_id)
            .values(state=DONE, reply=reply, delivered_via=delivered_via, finished_at=finished_at)
        )
        await conn.execute(statement)

    document = None if reply is None else json.dumps(reply)
    params = (DONE, document, delivered_via, utc_text(finished_at), delivery_id)

    def sqlite_step(cursor: sqlite3.Cursor) -> None:
        cursor.execute(_FINISH_SQL, params)

    async def driver_step(connection: Any) -> None:
        await connection.execute(_PG_FINISH_SQL, DONE, document, delivered_via, finished_at, delivery_id)

    row = (delivery_id, document, delivered_via, finished_at)
    # A delivery's id is its own: two finishes never keep each other out of a statement.
    await (writer or group_commit(db)).submit_batched(_FINISHES, row, (), sqlite_step, engine_step, driver_step)


async def _finish_all(connection: Any, rows: list[tuple[Any, ...]]) -> list[None]:
    # One round trip and one commit: asyncpg sends the rows together and runs them as one transaction.
    # Each row is an UPDATE by its key, read through the index whatever the planner thinks of the table.
    # (An UPDATE joined to unnest, planned once for a young ledger, read all of it on every finish.)
    await connection.executemany(_PG_FINISH_SQL, [(DONE, reply, via, at, id_) for id_, reply, via, at in rows])
    return [None] * len(rows)


# On PostgreSQL the callbacks finishing at the same moment share one UPDATE (one round trip, one commit).
# The answer has gone out already, so finishes wait for each other's statement and go out in fewer.
_FINISHES = BatchedStatement("finish deliveries", _finish_all, in_flight=1, lingering=True)


async def purge_deliveries(db: Database, now: datetime, retention: timedelta = RETENTION) -> tuple[int, int]:
    """Housekeeping job: mark stale `processing` rows abandoned, delete rows older than `retention`.

    Returns (abandoned, deleted). Retention must exceed WeChat's retry period (~15 s) by far.
    """
    if retention < STALE_AFTER:
        raise ValueError(f"retention must be at least {STALE_AFTER}, the de-duplication window")
    abandon = (
        update(_table)
        .where(_table.c.state == PROCESSING, _table.c.received_at < now - STALE_AFTER)
        .values(state=ABANDONED, finished_at=now)
    )
    remove = delete(_table).where(_table.c.received_at < now - retention)

    async def attempt() -> tuple[int, int]:
        async with db.engine.begin() as conn:
            abandoned = (await conn.execute(abandon)).rowcount
            deleted = (await conn.execute(remove)).rowcount
        return int(abandoned), int(deleted)

    return await retry_when_locked(attempt)


__all__ = [
    "ABANDONED",
    "Claim",
    "DONE",
    "PROCESSING",
    "RETENTION",
    "STALE_AFTER",
    "Delivery",
    "claim_and_write",
    "claim_delivery",
    "find_delivery",
    "finish_delivery",
    "purge_deliveries",
    "retry_when_locked",
]
