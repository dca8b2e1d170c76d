"""Group commit for the callback hot path: many callbacks' small writes share one transaction.

Every callback writes once before it answers (it claims the delivery and records the follower's
interaction in one step, `storage.inbound.claim_and_write`) and once after (it finishes the delivery). On
SQLite, which has one writer, those writes run on one dedicated connection in one thread: whatever steps
are waiting when the thread is free run together between `BEGIN IMMEDIATE` and `COMMIT`, in a single hop
from the event loop. A caller gets its result only after that commit, so nothing is acknowledged before
it is durable. A batch that fails is re-run one step per transaction, so one bad step cannot fail its
neighbours. Several serving processes on one file take turns through a lock file (`_writers_turn`).

On PostgreSQL (row-level locking, many writers) a hot-path write that is a single statement comes as
`driver_step(connection)`: one statement on the asyncpg connection, outside any transaction (PostgreSQL
commits it as it runs), so it costs one round trip instead of the checkout, BEGIN, statement and COMMIT
of an engine transaction. Otherwise the step is `engine_step(conn)` (SQLAlchemy Core on an
AsyncConnection) in a transaction. On SQLite it is `sqlite_step(cursor)` (plain SQL on the sqlite3
connection).

The claims and the finishes, one each per callback, also have a multi-row spelling (`BatchedStatement`):
on PostgreSQL the rows of callbacks that arrive while a few such statements run wait and go together in
the next one. Under load that is one round trip and one commit for many callbacks; a round trip costs
both processes a wake-up on the same cores, more than the rows themselves.

Writes made after the reply has gone (finishing the delivery, the follower's timeline) are `lingering`:
they wait up to `LINGER_SECONDS` for a batch that goes anyway, the next callback's claim. At a few
callbacks in flight each of them would otherwise be a hop and a commit of its own; nobody waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Awaitable, Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import writers_turn
from storage.db import Database, configure_sqlite

T = TypeVar("T")
SQLiteStep = Callable[[sqlite3.Cursor], T]
EngineStep = Callable[[AsyncConnection], Awaitable[T]]
# Takes the asyncpg connection itself (typed Any: asyncpg ships no type information).
DriverStep = Callable[[Any], Awaitable[T]]
# How long a write off the reply path waits to share a batch before it goes alone. Short enough that a
# quiet gateway's bookkeeping is still done at once, long enough to meet the next callback under load.
LINGER_SECONDS = 0.01


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
    # The same write for many rows in one statement, when it has that spelling.
    batch: ChainedBatch[T] | None = None


@dataclass(frozen=True)
class ChainedBatch(Generic[T]):
    """A chained write that can run for many rows at once, behind a CTE that holds all of them.

    `sql(before, guard)` is the whole statement. `before` defines the CTE `input_`, one row per caller with
    a column `key_` and this write's values as columns `w_<name>` (named and typed by `columns`), and the
    CTE `guard`, which returns `id` and `key_` for each row that may be written. The statement returns one
    row per written row, with its `key_` and the guard's id as `guard_id_`; `result` reads one.

    Writes with equal `shape` share a statement. Two rows with a key in common (`keys`) never do: two
    upserts of one follower in one statement would fail it.
    """

    shape: Hashable
    columns: tuple[tuple[str, str], ...]
    values: tuple[Any, ...]
    keys: tuple[Hashable, ...]
    sql: Callable[[str, str], str]
    result: Callable[[Any], T]


@dataclass(frozen=True)
class BatchedStatement:
    """A PostgreSQL statement that runs many callers' writes at once and returns each one's result.

    `run(connection, rows)` returns one result per row, in their order, from one round trip. Steps
    waiting for the same `BatchedStatement` at the same time share one execution.
    """

    name: str
    run: Callable[[Any, list[tuple[Any, ...]]], Awaitable[list[Any]]]
    # Statements running at once in a process. A row goes out at once while fewer run (a quiet gateway
    # waits for nobody); under load rows wait and share the next statement, which costs the database and
    # the event loop far less than a statement each. Writes off the reply path want 1: fewer statements.
    in_flight: int = 3
    # A write off the reply path: it waits `LINGER_SECONDS` for company, in a statement or a SQLite batch.
    lingering: bool = False


@dataclass(frozen=True)
class Write(Generic[T]):
    """One hot-path write in each spelling, so it can be submitted alone or run inside another step."""

    sqlite_step: SQLiteStep[T]
    engine_step: EngineStep[T]
    driver_step: DriverStep[T] | None = None
    chained: ChainedStatement[T] | None = None


def parse_sqlite_time(text: str | None) -> datetime | None:
    """The inverse of `storage.formats.utc_text`: aware UTC."""
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
        self._lingering: asyncio.TimerHandle | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        # PostgreSQL: the hot path's statements hold at most this many pooled connections at once. More
        # would make the pool open overflow connections and close them again as they come back (each
        # opening costs a TLS attempt, a login and type introspection: more than the statements).
        self._pg_slots = asyncio.Semaphore(max(1, db.pool_size * 3 // 4))
        # PostgreSQL: rows waiting for their batched statement, and the task running each statement.
        self._batched: dict[BatchedStatement, list[_Batched]] = {}
        self._batching: dict[BatchedStatement, set[asyncio.Task[None]]] = {}

    async def run(self, write: Write[T], *, lingering: bool = False) -> T:
        """`submit` for a `Write`."""
        return await self.submit(write.sqlite_step, write.engine_step, write.driver_step, lingering=lingering)

    async def submit(
        self,
        sqlite_step: SQLiteStep[T],
        engine_step: EngineStep[T],
        driver_step: DriverStep[T] | None = None,
        *,
        lingering: bool = False,
    ) -> T:
        """Run the step, committed, and return its result.

        `lingering` (a write nobody waits for, off the reply path): on SQLite it goes with the next batch,
        or after `LINGER_SECONDS` if none goes sooner.
        """
        if self._path is None:
            async with self._pg_slots:
                if driver_step is not None and self._db.is_postgres:
                    async with self._db.engine.connect() as conn:
                        return await driver_step((await conn.get_raw_connection()).driver_connection)
                async with self._db.engine.begin() as conn:
                    return await engine_step(conn)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((sqlite_step, future))
        if not lingering:
            self._start_flush()
        elif self._lingering is None:
            self._lingering = asyncio.get_running_loop().call_later(LINGER_SECONDS, self._start_flush)
        return await future

    def _start_flush(self) -> None:
        if self._lingering is not None:
            self._lingering.cancel()
            self._lingering = None
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())

    async def settle(self) -> None:
        """Commit every step submitted so far, lingering ones included (before closing)."""
        while self._pending or (self._flushing is not None and not self._flushing.done()):
            self._start_flush()
            assert self._flushing is not None
            await asyncio.shield(self._flushing)
        running = [task for tasks in self._batching.values() for task in tasks]
        await asyncio.gather(*running, return_exceptions=True)

    async def submit_batched(
        self,
        batched: BatchedStatement,
        row: tuple[Any, ...],
        keys: tuple[Hashable, ...],
        sqlite_step: SQLiteStep[T],
        engine_step: EngineStep[T],
        driver_step: DriverStep[T],
    ) -> T:
        """Write `row` through `batched` with other callers' rows on PostgreSQL; elsewhere, `submit` the steps.

        Rows arriving while the statement runs go together in its next run, but never two rows that share
        one of their `keys`. If a statement fails (nothing of it was written), each of its rows runs alone
        as `driver_step`, so one bad row fails only its own caller.
        """
        if self._path is not None or not self._db.is_postgres:
            return await self.submit(sqlite_step, engine_step, driver_step, lingering=batched.lingering)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._batched.setdefault(batched, []).append(_Batched(row, keys, driver_step, future))
        running = self._batching.setdefault(batched, set())
        if len(running) < batched.in_flight:
            task = asyncio.create_task(self._run_batched(batched), name=f"batched {batched.name}")
            running.add(task)
            task.add_done_callback(running.discard)
        return await future

    async def _run_batched(self, batched: BatchedStatement) -> None:
        waiting: list[_Batched] = []
        try:
            if batched.lingering:
                await asyncio.sleep(LINGER_SECONDS)
            while waiting := self._batched.pop(batched, []):
                for part in _apart(waiting):
                    try:
                        await self._run_part(batched, part)
                    except Exception as error:  # noqa: BLE001 - no connection: each caller gets the cause
                        _fail(part, error)
        finally:
            # Cancelled (at shutdown): no caller waits for ever, since a callback's deadline counts on its
            # claim returning. Rows still waiting are failed too unless another statement will take them.
            stopped = ConnectionError(f"{batched.name}: stopped before the statement ran")
            others = len(self._batching.get(batched, ())) > 1
            _fail([*waiting, *([] if others else self._batched.pop(batched, []))], stopped)

    async def _run_part(self, batched: BatchedStatement, part: list[_Batched]) -> None:
        async with self._pg_slots, self._db.engine.connect() as conn:
            connection = (await conn.get_raw_connection()).driver_connection
            if len(part) == 1:
                # A row alone goes as its own statement, which costs the database less than a batch of one.
                results = [await _alone(part[0].step, connection)]
            else:
                try:
                    results = [(True, result) for result in await batched.run(connection, [item.row for item in part])]
                except Exception:  # noqa: BLE001 - each row again on its own, so one bad row fails alone
                    results = [await _alone(item.step, connection) for item in part]
        for item, (ok, value) in zip(part, results, strict=True):
            if item.future.done():
                continue
            if ok:
                item.future.set_result(value)
            else:
                item.future.set_exception(value)

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
            configure_sqlite(connection.cursor())  # which turns off checkpoints inside commits
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


@dataclass(frozen=True)
class _Batched:
    """A row waiting for its batched statement, with what runs it alone and who waits for it."""

    row: tuple[Any, ...]
    keys: tuple[Hashable, ...]
    step: DriverStep[Any]
    future: asyncio.Future[Any]


def _apart(waiting: list[_Batched]) -> list[list[_Batched]]:
    """`waiting` in arrival order, split into as few parts as possible whose rows share no key."""
    parts: list[tuple[set[Hashable], list[_Batched]]] = []
    for item in waiting:
        for taken, members in parts:
            if taken.isdisjoint(item.keys):
                taken.update(item.keys)
                members.append(item)
                break
        else:
            parts.append((set(item.keys), [item]))
    return [members for _taken, members in parts]


def _fail(items: list[_Batched], error: BaseException) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_exception(error)


async def _alone(step: DriverStep[Any], connection: Any) -> tuple[bool, Any]:
    try:
        return True, await step(connection)
    except Exception as error:  # noqa: BLE001 - handed to the step's caller
        return False, error


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
        await writer.settle()
        await asyncio.to_thread(writer.close)


__all__ = [
    "LINGER_SECONDS",
    "BatchedStatement",
    "ChainedBatch",
    "ChainedStatement",
    "DriverStep",
    "GroupCommit",
    "Write",
    "close_group_commit",
    "group_commit",
    "parse_sqlite_time",
]
