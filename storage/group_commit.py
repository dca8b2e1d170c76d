"""Group commit for the callback hot path: many callbacks' small writes share one transaction.

Every callback writes once before it answers (it claims the delivery and records the follower's
interaction in one step, `storage.inbound.claim_and_write`) and once after (it finishes the delivery). On
SQLite, which has one writer, those writes run on one dedicated connection in one thread: whatever steps
are waiting when the thread is free run together between `BEGIN IMMEDIATE` and `COMMIT`, in a single hop
from the event loop. A caller gets its result only after that commit, so nothing is acknowledged before
it is durable. A batch that fails is re-run one step per transaction, so one bad step cannot fail its
neighbours. Several serving processes on one file take turns through a lock file (`_writers_turn`).

On PostgreSQL (row-level locking, many writers) each step runs on its own. A hot-path write that is a
single statement also comes as `driver_step(connection)`: one statement on the asyncpg connection,
outside any transaction (PostgreSQL commits it as it runs), so it costs one round trip instead of the
checkout, BEGIN, statement and COMMIT of an engine transaction. Otherwise the step is `engine_step(conn)`
(SQLAlchemy Core on an AsyncConnection) in a transaction. On SQLite it is `sqlite_step(cursor)` (plain
SQL on the sqlite3 connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import writers_turn
from storage.db import Database

T = TypeVar("T")
SQLiteStep = Callable[[sqlite3.Cursor], T]
EngineStep = Callable[[AsyncConnection], Awaitable[T]]
# Takes the asyncpg connection itself (typed Any: asyncpg ships no type information).
DriverStep = Callable[[Any], Awaitable[T]]


@dataclass(frozen=True)
class ChainedStatement(Generic[T]):
    """A write spelled as one PostgreSQL statement that can run behind another one's CTE, in its round trip.

    `sql(before, guard, first)` is the whole statement: `before` is the leading CTE (`name AS (...)`),
    the write runs only when the CTE named `guard` returned a row, and its own parameters are numbered
    from `$first`. `result` turns the statement's row into the write's result. The claim of a delivery and
    the follower's interaction go to PostgreSQL this way as one statement (storage.inbound).
    """

    sql: Callable[[str, str, int], str]
    params: tuple[Any, ...]
    result: Callable[[Any], T]


@dataclass(frozen=True)
class SharedStatement:
    """A PostgreSQL statement that writes the rows of many callers at once (an UPDATE over `unnest`, say).

    `run(connection, rows)` writes them in one round trip. Steps that name the same `SharedStatement`
    and wait at the same time share one execution, as steps share a transaction on SQLite.
    """

    name: str
    run: Callable[[Any, list[tuple[Any, ...]]], Awaitable[None]]


@dataclass(frozen=True)
class Write(Generic[T]):
    """One hot-path write in each spelling, so it can be submitted alone or run inside another step."""

    sqlite_step: SQLiteStep[T]
    engine_step: EngineStep[T]
    driver_step: DriverStep[T] | None = None
    chained: ChainedStatement[T] | None = None


def sqlite_time(moment: datetime) -> str:
    """A datetime as SQLAlchemy's SQLite dialect stores UTCDateTime values (naive UTC text)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r} given to a UTC column")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def parse_sqlite_time(text: str | None) -> datetime | None:
    """The inverse of `sqlite_time`: aware UTC."""
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class GroupCommit:
    """Runs hot-path write steps in shared transactions; one per database per process (`group_commit`)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        path = db.engine.url.database
        self._path = path if db.dialect == "sqlite" and path and path != ":memory:" else None
        self._pending: list[tuple[SQLiteStep[Any], asyncio.Future[Any]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        # PostgreSQL: the hot path's statements hold at most this many pooled connections at once. More
        # would make the pool open overflow connections and close them again as they come back (each
        # opening costs a TLS attempt, a login and type introspection: more than the statements).
        self._pg_slots = asyncio.Semaphore(max(1, db.pool_size * 3 // 4))
        # PostgreSQL: rows waiting for their shared statement, and the task running each statement.
        self._shared: dict[SharedStatement, list[tuple[tuple[Any, ...], DriverStep[Any], asyncio.Future[Any]]]] = {}
        self._sharing: dict[SharedStatement, asyncio.Task[None]] = {}

    async def run(self, write: Write[T]) -> T:
        """`submit` for a `Write`."""
        return await self.submit(write.sqlite_step, write.engine_step, write.driver_step)

    async def submit(
        self, sqlite_step: SQLiteStep[T], engine_step: EngineStep[T], driver_step: DriverStep[T] | None = None
    ) -> T:
        """Run the step, committed, and return its result."""
        if self._path is None:
            async with self._pg_slots:
                if driver_step is not None and self._db.is_postgres:
                    async with self._db.engine.connect() as conn:
                        return await driver_step((await conn.get_raw_connection()).driver_connection)
                async with self._db.engine.begin() as conn:
                    return await engine_step(conn)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((sqlite_step, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def submit_shared(
        self,
        shared: SharedStatement,
        row: tuple[Any, ...],
        sqlite_step: SQLiteStep[None],
        engine_step: EngineStep[None],
        driver_step: DriverStep[None],
    ) -> None:
        """Write `row` through `shared` with other callers' rows on PostgreSQL; elsewhere, `submit` the steps.

        Committed when it returns. Rows arriving while the statement runs go together in its next run.
        """
        if self._path is not None or not self._db.is_postgres:
            await self.submit(sqlite_step, engine_step, driver_step)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._shared.setdefault(shared, []).append((row, driver_step, future))
        running = self._sharing.get(shared)
        if running is None or running.done():
            self._sharing[shared] = asyncio.create_task(self._run_shared(shared), name=f"shared {shared.name}")
        await future

    async def _run_shared(self, shared: SharedStatement) -> None:
        while waiting := self._shared.pop(shared, []):
            async with self._pg_slots, self._db.engine.connect() as conn:
                connection = (await conn.get_raw_connection()).driver_connection
                try:
                    await shared.run(connection, [row for row, _step, _future in waiting])
                    outcomes: list[BaseException | None] = [None] * len(waiting)
                except Exception:  # noqa: BLE001 - each row again on its own, so one bad row fails alone
                    outcomes = [await _outcome(step, connection) for _row, step, _future in waiting]
            for (_row, _step, future), error in zip(waiting, outcomes, strict=True):
                if future.done():
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scrm-group-commit")
        while self._pending:
            batch, self._pending = self._pending, []
            outcomes = await loop.run_in_executor(self._executor, self._run_batch, [step for step, _ in batch])
            for (_step, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            assert self._path is not None
            # isolation_level=None: transactions are spelled out below (BEGIN IMMEDIATE takes the write
            # lock up front, so a batch never fails half-way on a busy snapshot).
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=30000")
            connection.execute("PRAGMA foreign_keys=ON")
            # The hot path never checkpoints the WAL: after a bulk import that could take seconds inside a
            # callback's commit. The application's other connections checkpoint as they commit.
            connection.execute("PRAGMA wal_autocheckpoint=0")
            self._connection = connection
        return self._connection

    @contextlib.contextmanager
    def _writers_turn(self) -> Iterator[None]:
        """Hold the lock file every writer on this database takes (storage.writers_turn) around a batch.

        Blocking, in the group commit's own thread: a blocked flock is woken the moment the holder lets go,
        where SQLite's busy handler would poll with sleeps of up to 100 ms.
        """
        assert self._path is not None
        fd = writers_turn.take_blocking(writers_turn.lock_path(self._path))
        try:
            yield
        finally:
            writers_turn.give_back(fd)

    def _run_batch(self, steps: list[SQLiteStep[Any]]) -> list[tuple[bool, Any]]:
        with self._lock, self._writers_turn():
            connection = self._connect()
            cursor = connection.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                results = [step(cursor) for step in steps]
                cursor.execute("COMMIT")
                return [(True, result) for result in results]
            except Exception:
                if connection.in_transaction:
                    cursor.execute("ROLLBACK")
            return [self._run_alone(cursor, step) for step in steps]

    @staticmethod
    def _run_alone(cursor: sqlite3.Cursor, step: SQLiteStep[Any]) -> tuple[bool, Any]:
        try:
            cursor.execute("BEGIN IMMEDIATE")
            result = step(cursor)
            cursor.execute("COMMIT")
        except Exception as error:
            if cursor.connection.in_transaction:
                cursor.execute("ROLLBACK")
            return False, error
        return True, result

    def close(self) -> None:
        """Close the dedicated connection and its thread (waits for a batch in progress)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


async def _outcome(step: DriverStep[None], connection: Any) -> BaseException | None:
    try:
        await step(connection)
    except Exception as error:  # noqa: BLE001 - handed to the step's caller
        return error
    return None


_writers: weakref.WeakKeyDictionary[AsyncEngine, GroupCommit] = weakref.WeakKeyDictionary()


def group_commit(db: Database) -> GroupCommit:
    """The process's one GroupCommit for this database: every hot-path writer must share it."""
    writer = _writers.get(db.engine)
    if writer is None:
        writer = _writers[db.engine] = GroupCommit(db)
        weakref.finalize(db.engine, writer.close)
    return writer


async def close_group_commit(db: Database) -> None:
    """Release the dedicated SQLite connection of `db` (application shutdown)."""
    writer = _writers.pop(db.engine, None)
    if writer is not None:
        await asyncio.to_thread(writer.close)


__all__ = [
    "ChainedStatement",
    "DriverStep",
    "GroupCommit",
    "SharedStatement",
    "Write",
    "close_group_commit",
    "group_commit",
    "parse_sqlite_time",
    "sqlite_time",
]
