"""SQLite's one writer, taken in turns: every write transaction on a database file holds its lock file.

SQLite lets one transaction write at a time. A writer that finds the database locked waits in SQLite's
busy handler, which polls with sleeps of up to 100 ms: a writer that commits and begins again at once (a
bulk import, a backlog being processed) wins almost every time, and the others (the callbacks' group
commit, the scheduler's jobs, the console) wait seconds or time out. So every writer, in every process
on the file, first takes `<database>-writers.lock` with flock:

- the callbacks' group commit (storage.group_commit) around each batch, blocking in its own thread, so
  the kernel wakes it the moment the lock is let go;
- every transaction of the application's engine, from its first write statement (or `BEGIN
  IMMEDIATE`) until it commits or rolls back, installed here as engine events (`install`). The wait
  runs in a thread (the event loop never blocks), checks every 2 ms, and gives up after the busy
  timeout with SQLite's own "database is locked" error, which callers already treat as transient.

A writer that has to wait says so: it holds a shared lock on `<database>-writers.wait` while it waits
(`others_waiting` sees it). A bulk import, whose transactions would otherwise stay open for a second,
commits as soon as someone waits (orders.transactions), so nobody waits long behind it.

Reads take nothing: in WAL mode they never wait for the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

from storage import checkpoints

# How long a writer waits for its turn before failing like SQLite's busy timeout would.
WAIT_SECONDS = 30.0
_POLL_SECONDS = 0.002
_HELD = "scrm.writers_turn"
# Statements that make a transaction a writer. Others (SELECT, PRAGMA reads, SAVEPOINT...) take nothing.
_WRITE_HEADS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE", "CREATE", "DROP", "ALTER")
# Waiting threads: up to the pool's size of connections may wait at once, apart from asyncio's default pool.
_WAITERS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="scrm-writers-turn")
# This process's queue for each lock file (see `take`), and the queue each descriptor taken by `take` holds.
_QUEUES: dict[str, threading.Lock] = {}
_QUEUES_GUARD = threading.Lock()
_QUEUED: dict[int, threading.Lock] = {}
_LOCK_SUFFIX = "-writers.lock"
# The database file each descriptor taken by `take` or `take_blocking` is the turn of.
_DATABASE_OF: dict[int, str] = {}


def lock_path(database_path: str) -> str:
    """The lock file of a SQLite database file, shared by every process that writes to it."""
    return f"{database_path}{_LOCK_SUFFIX}"


def is_write(statement: str) -> bool:
    head = statement.lstrip()[:20].upper()
    if head.startswith("WITH"):
        body = statement.upper()
        return any(f"{verb} " in body for verb in ("INSERT", "UPDATE", "DELETE"))
    return head.startswith(_WRITE_HEADS)


def waiting_path(lock_file: str) -> str:
    """Writers waiting for their turn hold a shared lock on this file, so the holder can see them."""
    return lock_file.removesuffix(_LOCK_SUFFIX) + "-writers.wait"


def take(path: str, wait_seconds: float = WAIT_SECONDS) -> int:
    """Open and lock the file; the descriptor holds the turn until `give_back`. Blocks: call in a thread.

    The writers of this process queue on a lock of their own first, where a waiting thread sleeps until it
    is woken, and only the first of them polls the file. When each polled, 16 threads woke every 2 ms and
    took the interpreter from the event loop, whose transactions then held the turn longer still.
    """
    queue = _queue_of(path)
    give_up = time.monotonic() + wait_seconds
    if not queue.acquire(blocking=False):
        with _announced(path):
            if not queue.acquire(timeout=wait_seconds):
                raise _no_turn()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except BaseException:
        queue.release()
        raise
    if not _try(fd):
        with _announced(path):
            while not _try(fd):
                if time.monotonic() >= give_up:
                    os.close(fd)
                    queue.release()
                    raise _no_turn()
                time.sleep(_POLL_SECONDS)
    _QUEUED[fd] = queue
    _DATABASE_OF[fd] = path.removesuffix(_LOCK_SUFFIX)
    return fd


def _no_turn() -> sqlite3.OperationalError:
    """SQLite's own busy error, which callers already treat as transient."""
    return sqlite3.OperationalError("database is locked (no writer's turn in time)")


def _queue_of(path: str) -> threading.Lock:
    with _QUEUES_GUARD:
        return _QUEUES.setdefault(path, threading.Lock())


def take_blocking(path: str, *, announce: bool = True) -> int:
    """`take` for a writer with a thread of its own (the group commit): woken the moment the lock is free.

    `announce=False`: wait without being seen by `others_waiting`, so the holder keeps its pace (the
    checkpointer's short copy, which can wait for the holder's commit).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    if not _try(fd):
        with _announced(path) if announce else contextlib.nullcontext():
            fcntl.flock(fd, fcntl.LOCK_EX)
    _DATABASE_OF[fd] = path.removesuffix(_LOCK_SUFFIX)
    return fd


def others_waiting(path: str) -> bool:
    """Whether another writer waits for the turn this caller holds: a long transaction then commits early."""
    fd = os.open(waiting_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def _announced(path: str) -> Iterator[None]:
    fd = os.open(waiting_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def give_back(fd: int) -> None:
    """Let the turn go, then have the log the writer added copied into the database (storage.checkpoints)."""
    # Both looked up before closing: a new descriptor may get the same number at once.
    queue, database = _QUEUED.pop(fd, None), _DATABASE_OF.pop(fd, None)
    os.close(fd)  # closing the last descriptor of the open file lets the lock go
    if queue is not None:
        queue.release()
    if database is not None:
        checkpoints.nudge(database)


def install(engine: AsyncEngine, database_path: str) -> None:
    """Make every write transaction of `engine` hold the lock file of `database_path`."""
    path = lock_path(database_path)
    sync_engine = engine.sync_engine

    def before_cursor_execute(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if _HELD in conn.info or not is_write(statement):
            return
        # Inside SQLAlchemy's async adaptation this code runs in a greenlet of the event loop: await_only
        # suspends it there while a thread waits for the lock.
        waiting = asyncio.get_running_loop().run_in_executor(_WAITERS, take, path, WAIT_SECONDS)
        conn.info[_HELD] = await_only(waiting)

    # The turn goes back once the transaction has ended in SQLite, not at SQLAlchemy's "commit" and
    # "rollback" events, which fire before the driver commits: the next holder would meet SQLite's own lock
    # and wait in its busy handler (sleeps of up to 100 ms) while everyone behind it waits for the turn.
    # After a big commit (an import's) that was a tenth of a second per hand-over.
    dialect = sync_engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def commit_then_release(dbapi_connection: Any) -> None:
        commit(dbapi_connection)  # a failed commit keeps the turn: the rollback that follows lets it go
        _release(_info(dbapi_connection))

    def rollback_then_release(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            _release(_info(dbapi_connection))

    def release_at_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        _release(record.info)

    dialect.do_commit = commit_then_release  # type: ignore[method-assign]
    dialect.do_rollback = rollback_then_release  # type: ignore[method-assign]
    event.listen(sync_engine, "before_cursor_execute", before_cursor_execute)
    # A connection given back to the pool (or dropped) without either still lets the turn go.
    event.listen(sync_engine.pool, "checkin", release_at_checkin)


def _info(dbapi_connection: Any) -> dict[Any, Any]:
    try:
        info: dict[Any, Any] = dbapi_connection.info
    except NotImplementedError:  # the dialect's look at a first connection, outside the pool: no writer
        return {}
    return info


def _release(info: dict[Any, Any]) -> None:
    fd = info.pop(_HELD, None)
    if fd is not None:
        give_back(fd)


__all__ = [
    "WAIT_SECONDS",
    "give_back",
    "install",
    "is_write",
    "lock_path",
    "others_waiting",
    "take",
    "take_blocking",
    "waiting_path",
]
