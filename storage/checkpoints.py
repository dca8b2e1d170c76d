"""Copying SQLite's write-ahead log into the database file beside the writers, never inside a commit.

By default SQLite checkpoints inside a commit: the connection whose commit takes the log past 1,000 pages
copies it into the database file before its commit returns. Every writer holds the writers' turn
(storage.writers_turn) until its commit has returned, so such a commit kept every other writer waiting
while it copied: under callbacks, a scheduler job's one-row commit took 100-270 ms now and then, and each
callback whose group commit came in that moment waited as long (the p99 of `scrm serve` at 64 connections
was 150-320 ms while its p50 was 20-27 ms).

A PASSIVE checkpoint takes no writer's lock: writers append to the log while it copies what is already
committed. So the application's connections never checkpoint (`PRAGMA wal_autocheckpoint=0`, set by
storage.db.configure_sqlite), and each writer, as it gives its turn back, nudges this process's
checkpointer for that file, which works on a thread and a connection of its own, at most once every
`INTERVAL_SECONDS`; nobody waits for it. It checkpoints twice:

1. beside the writers, copying the bulk of the log;
2. holding the turn, copying only what was committed meanwhile (a few milliseconds' worth).

The second makes the log fully copied while no one can add to it, and only then does the next writer
start the log again from its beginning. Under a steady stream of commits a log copied only beside the
writers never is: it grew by about 40 MB a second under callbacks, without bound.
"""

from __future__ import annotations

import atexit
import logging
import os
import sqlite3
import threading
import time

log = logging.getLogger(__name__)

# Often enough that each checkpoint copies little (a second of callbacks is a few thousand pages), rarely
# enough that its fsync of the database file is not a cost of its own.
INTERVAL_SECONDS = 0.5


class Checkpointer:
    """PASSIVE checkpoints of one database file, on a thread of their own, when nudged and due.

    The thread and its connection live while commits keep coming and end once a checkpoint finds
    nothing new: an idle database costs nothing, and neither do the many files of a test run.
    """

    def __init__(self, database_path: str, interval_seconds: float | None = None) -> None:
        self.path = database_path
        self.interval_seconds = INTERVAL_SECONDS if interval_seconds is None else interval_seconds
        self._guard = threading.Lock()
        self._wanted = False  # nudged since the last checkpoint began
        self._thread: threading.Thread | None = None
        self._next = 0.0  # the earliest time of the next checkpoint (monotonic)
        self._settled = -1  # the log's frames when a copy holding the turn last copied them all
        self._closing = threading.Event()

    @property
    def working(self) -> bool:
        """Whether a checkpoint runs or waits for its time."""
        return self._thread is not None

    def nudge(self) -> None:
        """Have the log checkpointed once the interval since the last checkpoint is over. Never waits.

        Nudges while the thread works are never lost: they make one more checkpoint after it, so the end
        of a burst of commits is copied too.
        """
        with self._guard:
            self._wanted = True
            if self._thread is not None or self._closing.is_set():
                return
            thread = self._thread = threading.Thread(target=self._work, name="scrm-checkpoint")
        try:
            thread.start()
        except RuntimeError:  # the interpreter is shutting down: the last connection's close copies the rest
            with self._guard:
                self._thread = None

    def _work(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                with self._guard:
                    if not self._wanted or self._closing.is_set():
                        self._thread = None
                        return
                    self._wanted = False
                if self._closing.wait(max(0.0, self._next - time.monotonic())):
                    continue
                try:
                    if connection is None:
                        # Nothing to configure: a checkpoint neither writes nor waits (PASSIVE skips the
                        # busy handler).
                        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                    self._checkpoint_both_ways(connection)
                except (sqlite3.Error, OSError) as error:
                    # The log only grows until a later checkpoint succeeds; writers are never held up by it.
                    log.warning("checkpoint of %s failed: %s", self.path, error)
                self._next = time.monotonic() + self.interval_seconds
        finally:
            if connection is not None:
                connection.close()

    def _checkpoint_both_ways(self, connection: sqlite3.Connection) -> None:
        _busy, frames, copied = self.checkpoint(connection)  # the bulk, beside the writers
        # Its figures are the log as the checkpoint began: what was committed while it copied is not in
        # them. Only a log that has not changed since the last copy made holding the turn needs no other.
        if copied == frames == self._settled:
            return
        # What was committed meanwhile, holding the turn, so that the next writer starts the log again.
        from storage import writers_turn  # which imports this module to nudge it

        # Unannounced: a long transaction (an import's batch) need not commit early for this; it waits.
        fd = writers_turn.take_blocking(writers_turn.lock_path(self.path), announce=False)
        try:
            _busy, frames, copied = self.checkpoint(connection)
        finally:
            writers_turn.give_back(fd)
        self._settled = frames if copied == frames else -1

    @staticmethod
    def checkpoint(connection: sqlite3.Connection) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, frames in the log, frames copied), as SQLite reports them."""
        row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        busy, frames, copied = row if row is not None else (0, 0, 0)
        return int(busy), int(frames), int(copied)

    def close(self) -> None:
        """Stop: a checkpoint under way finishes first. Blocks (call in a thread from async code)."""
        self._closing.set()
        thread = self._thread
        if thread is not None:
            thread.join()


_CHECKPOINTERS: dict[str, Checkpointer] = {}
_GUARD = threading.Lock()


def checkpointer(database_path: str) -> Checkpointer:
    """This process's checkpointer for a database file."""
    with _GUARD:
        found = _CHECKPOINTERS.get(database_path)
        if found is None:
            found = _CHECKPOINTERS[database_path] = Checkpointer(database_path)
        return found


def nudge(database_path: str) -> None:
    """A writer of this process has committed to `database_path`: checkpoint it soon, beside the writers."""
    checkpointer(database_path).nudge()


def close(database_path: str) -> None:
    """Stop this process's checkpointer of a file (its database is disposed of). Blocks: call in a thread."""
    with _GUARD:
        found = _CHECKPOINTERS.pop(database_path, None)
    if found is not None:
        found.close()


def _forget_after_fork() -> None:
    # A forked worker (scrm serve --workers N) inherits the parent's checkpointers without their threads.
    global _GUARD
    _CHECKPOINTERS.clear()
    _GUARD = threading.Lock()


def _close_all() -> None:
    # Closed, the last connection to a file copies what is left of the log and removes it.
    for found in list(_CHECKPOINTERS.values()):
        found.close()


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(_close_all)

__all__ = ["INTERVAL_SECONDS", "Checkpointer", "checkpointer", "close", "nudge"]
