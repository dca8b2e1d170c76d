"""SQLite's one writer, taken in turns: every write transaction on a database file holds its lock file.

SQLite lets one transaction write at a time. A writer that finds the database locked waits in SQLite's
busy handler, which polls with sleeps of up to 100 ms: a writer that commits and begins again at once (a
bulk import, a backlog being processed) wins almost every time, and the others (the callbacks' group
commit, the scheduler's jobs, the console) wait seconds or time out. So every writer, in every process
on the file, first takes `<database>-writers.lock` with flock:

- the callbacks' group commit (storage.group_commit) around each batch, blocking in its own thread, so
  the kernel wakes it the moment the lock is let go;
- every transaction of the application's engine, from its first write statement (or `BEGIN
  IMMEDIATE`) until SQLite has committed or rolled it back, in the driver's thread (storage.sqlite_driver):
  that thread waits for the turn, checking every 2 ms, and gives up after the busy timeout with SQLite's
  own "database is locked" error, which callers already treat as transient. The event loop never waits.

A writer that has to wait says so: it holds a shared lock on `<database>-writers.wait` while it waits
(`others_waiting` sees it). A bulk import, whose transactions would otherwise stay open for a second,
commits as soon as someone waits (orders.transactions), so nobody waits long behind it.

Reads take nothing: in WAL mode they never wait for the writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator

from storage import checkpoints

# How long a writer waits for its turn before failing like SQLite's busy timeout would.
WAIT_SECONDS = 30.0
_POLL_SECONDS = 0.002
# Statements that make a transaction a writer. Others (SELECT, PRAGMA reads, SAVEPOINT...) take nothing.
_WRITE_HEADS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE", "CREATE", "DROP", "ALTER")
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


__all__ = [
    "WAIT_SECONDS",
    "give_back",
    "is_write",
    "lock_path",
    "others_waiting",
    "take",
    "take_blocking",
    "waiting_path",
]
