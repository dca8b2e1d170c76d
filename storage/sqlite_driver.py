"""SQLite through aiosqlite, in one hop to the driver's thread per statement, with the writers' turn in it.

SQLAlchemy's aiosqlite adapter sends every step of a statement to aiosqlite's thread on its own: it opens
a cursor, executes, fetches the rows and closes the cursor, four round trips between the event loop and
the thread for a SELECT, three for a write. Each comes back through the event loop: a wake-up of the
loop, a future and a task step apiece, and under load the loop may be busy for milliseconds before it
resumes the statement. A writer also took the turn (storage.writers_turn) in a thread of its own and
gave it back only once the event loop had resumed it with the commit's result, while every callback's
group commit waited.

Here each statement is one function run in aiosqlite's thread (`Connection._execute`, as aiosqlite's own
methods do): it takes the turn if the statement is the transaction's first write, executes, fetches every
row and closes the cursor. The commit and the rollback give the turn back in the same thread the moment
SQLite has ended the transaction. The event loop is waited for only between the statements of the
caller's own transaction, never before its first write runs or after its commit.

Server-side cursors (`stream_results`) keep SQLAlchemy's adapter, which fetches in parts by design; a
write through one still takes the turn first (`StreamingCursor`).

This builds on parts of SQLAlchemy's adapter and of aiosqlite that are not their public API, so
pyproject.toml pins both to the minor versions it was written against; tests/storage/test_sqlite_driver.py
fails if a statement stops being one hop or the turn leaves the driver's thread.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    AsyncAdapt_aiosqlite_ss_cursor,
)
from sqlalchemy.util import EMPTY_DICT, await_only

from storage import writers_turn


class _Turn:
    """The writers' turn of one connection: taken at its transaction's first write, given back at its end.

    Used only in the connection's driver thread, so it needs no lock of its own.
    """

    __slots__ = ("held", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.held: int | None = None  # the lock file's descriptor while the turn is held

    def take_for(self, statement: str) -> None:
        if self.held is None and writers_turn.is_write(statement):
            self.held = writers_turn.take(self.path, writers_turn.WAIT_SECONDS)

    def give_back(self) -> None:
        fd, self.held = self.held, None
        if fd is not None:
            writers_turn.give_back(fd)


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose statement, rows and close are one function in the driver's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:  # no cursor opened before the statement
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize  # rows `fetchmany()` returns; all of them were fetched with the statement

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._run(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        self._run(operation, seq_of_parameters, many=True)

    def _run(self, operation: str, parameters: Any, *, many: bool) -> None:
        connection = self._adapt_connection
        assert isinstance(connection, OneHopConnection)
        try:
            done = await_only(connection._connection._execute(connection.statement, operation, parameters, many))
        except Exception as error:
            connection._handle_exception(error)
        self._description, self._rowcount, self._lastrowid, rows = done
        self._rows = collections.deque(rows)

    async def _async_soft_close(self) -> None:
        return None  # the driver's cursor closed with its statement

    def close(self) -> None:
        self._rows.clear()

    def nextset(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class StreamingCursor(AsyncAdapt_aiosqlite_ss_cursor):
    """SQLAlchemy's server-side cursor, which fetches rows in parts, taking the turn before a write."""

    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        connection = self._adapt_connection
        assert isinstance(connection, OneHopConnection)
        if connection._turn is not None and writers_turn.is_write(operation):
            try:
                await_only(connection._connection._execute(connection._turn.take_for, operation))
            except Exception as error:
                connection._handle_exception(error)
        return super().execute(operation, parameters)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite's adapted connection with `OneHopCursor` and, on a file, the writers' turn."""

    __slots__ = ("_turn",)
    _cursor_cls = OneHopCursor
    _ss_cursor_cls = StreamingCursor

    def __init__(self, dbapi: Any, connection: Any, turn: _Turn | None) -> None:
        super().__init__(dbapi, connection)
        self._turn = turn

    def statement(self, operation: str, parameters: Any, many: bool) -> tuple[Any, int, int | None, list[Any]]:
        """In the driver's thread: (description, rowcount, lastrowid, rows) of one statement."""
        if self._turn is not None:
            self._turn.take_for(operation)
        cursor = self._connection._conn.cursor()
        try:
            if many:
                cursor.executemany(operation, parameters)
            elif parameters is None:
                cursor.execute(operation)
            else:
                cursor.execute(operation, parameters)
            rows = cursor.fetchall() if cursor.description else []
            return cursor.description, cursor.rowcount, cursor.lastrowid, rows
        finally:
            cursor.close()

    def commit(self) -> None:
        self._end(self._commit_then_give_back)

    def rollback(self) -> None:
        self._end(self._rollback_then_give_back)

    def _end(self, ending: Any) -> None:
        if not self._connection._connection:  # closed: SQLite ended the transaction with it
            self._give_back_now()
            return
        try:
            await_only(self._connection._execute(ending))
        except Exception as error:
            self._handle_exception(error)

    def _commit_then_give_back(self) -> None:
        self._connection._conn.commit()  # a failed commit keeps the turn: the rollback that follows gives it
        if self._turn is not None:
            self._turn.give_back()

    def _rollback_then_give_back(self) -> None:
        try:
            self._connection._conn.rollback()
        finally:
            if self._turn is not None:
                self._turn.give_back()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._give_back_now()

    def terminate(self) -> None:  # an invalidated connection: closed without a rollback first
        try:
            super().terminate()
        finally:
            self._give_back_now()

    def _give_back_now(self) -> None:
        """Outside the driver's thread, for a connection that runs no statement any more."""
        if self._turn is not None:
            self._turn.give_back()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module SQLAlchemy is given (`module=`) for a SQLite database: connects `OneHopConnection`s."""

    def __init__(self, lock_file: str | None) -> None:
        super().__init__(aiosqlite, sqlite3)
        self.lock_file = lock_file

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        connection = aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy's adapter does: a forgotten connection never holds exit
        turn = _Turn(self.lock_file) if self.lock_file is not None else None
        return OneHopConnection(self, await_only(connection), turn)


def driver(database_path: str | None) -> OneHopDBAPI:
    """The driver for an engine on `database_path` (None or ":memory:": no other writer, no turn)."""
    if not database_path or database_path == ":memory:":
        return OneHopDBAPI(None)
    return OneHopDBAPI(writers_turn.lock_path(database_path))


__all__ = ["OneHopConnection", "OneHopCursor", "OneHopDBAPI", "StreamingCursor", "driver"]
