"""Engines and sessions for SQLite (embedded default) and PostgreSQL (at scale)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import checkpoints, sqlite_driver, writers_turn


def configure_sqlite(cursor: Any) -> None:
    """The settings every connection to a SQLite file gets (`cursor`: of sqlite3 or of the async driver).

    WAL lets readers run beside the one writer; busy_timeout makes writers queue instead of failing at
    once; synchronous=NORMAL is durable across process crashes in WAL mode (only an OS crash can lose the
    last commits), which is the embedded default's trade-off. The log is copied into the file by
    storage.checkpoints, not by the commits.
    """
    # First, so that everything after it waits for a busy file instead of failing: `scrm serve --workers
    # N` opens N processes' first connections to one file at the same moment.
    cursor.execute("PRAGMA busy_timeout=30000")
    # WAL is a property of the file: switching needs the file to itself, so only switch when it is not.
    cursor.execute("PRAGMA journal_mode")
    (mode,) = cursor.fetchone() or ("",)
    if str(mode).lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # No checkpoint inside a commit, where the writer still holds everyone's turn: each writer's process
    # checkpoints beside the writers once the turn is given back (storage.checkpoints).
    cursor.execute("PRAGMA wal_autocheckpoint=0")


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    configure_sqlite(cursor)
    cursor.close()


async def take_write_lock(conn: AsyncConnection) -> None:
    """On SQLite, make the connection's open transaction a writer now (`BEGIN IMMEDIATE`).

    The driver begins SQLite transactions only at the first write, so reads before it run outside the
    transaction and a write based on them can overwrite what another writer committed in between (a
    lost update). Taking the lock first makes the reads see everything committed, and keeps others out
    until the commit. PostgreSQL needs nothing here: the callers lock the rows they read.
    """
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("BEGIN IMMEDIATE")


async def writers_waiting(conn: AsyncConnection) -> bool:
    """Whether another writer waits for what the open transaction of `conn` holds.

    On a SQLite file: another writer waits for the turn `conn` holds (storage.writers_turn). On PostgreSQL:
    another session waits for a row or key this transaction has written (a binding for a phone the import
    has just added, say). A long write transaction (an import's) commits early when one does, so nobody
    waits long behind it: a callback waiting past WeChat's deadline is a late reply.
    """
    if conn.dialect.name == "postgresql":
        # Only the sessions waiting for some lock are asked who blocks them: usually none, so it is cheap.
        return bool(await conn.scalar(_BLOCKED_BY_THIS_SESSION))
    path = conn.engine.url.database
    if conn.dialect.name != "sqlite" or not path or path == ":memory:":
        return False
    return writers_turn.others_waiting(writers_turn.lock_path(path))


_BLOCKED_BY_THIS_SESSION = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid)))"
)


class Database:
    """One engine and its session factory. Create it once per process and pass it down."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 20) -> None:
        self.url = url
        self.pool_size = pool_size
        kwargs: dict[str, Any] = {"echo": echo}
        if url.startswith("postgresql"):
            # No pre-ping: on asyncpg it costs three round trips (BEGIN, a statement, ROLLBACK) at every
            # checkout, more than a callback's own writes. A connection that a PostgreSQL restart broke
            # fails one statement instead; SQLAlchemy then sees the disconnect and replaces every pooled
            # connection older than it, and the caller's retry or next tick gets a fresh one.
            # Kept open: a connection over pool_size is closed when given back, and opening one costs far
            # more than the statements of a callback, so under load the pool must not churn.
            kwargs.update(pool_size=pool_size, max_overflow=pool_size // 2)
        elif url.startswith("sqlite") and ":memory:" not in url:
            # A writer waiting for its turn (storage.writers_turn) holds its connection meanwhile, and a
            # burst of handlers that write can outnumber SQLAlchemy's default of 5 + 10: a connection
            # here is a file handle and a thread, so allow as many as PostgreSQL's pool.
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        parsed = make_url(url)
        if parsed.drivername == "sqlite+aiosqlite":
            # One hop to the driver's thread per statement, and every write transaction on a file holds the
            # writers' turn from its first write until SQLite has ended it (storage.sqlite_driver).
            kwargs["module"] = sqlite_driver.driver(parsed.database)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self.dialect: str = self.engine.dialect.name
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    def session(self) -> AsyncSession:
        """A new session: `async with db.session() as session: ...; await session.commit()`."""
        return self._sessions()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on success and rolled back on error."""
        async with self._sessions() as session, session.begin():
            yield session

    async def create_all(self) -> None:
        """Create every table straight from the models (tests and benchmarks; production migrates)."""
        import storage.models  # noqa: F401  (registers every table)

        async with self.engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)

    async def ping(self) -> bool:
        from sqlalchemy import text

        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - readiness reports any failure as "not ready"
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
        path = self.engine.url.database
        if self.dialect == "sqlite" and path and path != ":memory:":
            # Its connection is the last of this process to the file: closed, it copies what is left.
            await asyncio.to_thread(checkpoints.close, path)
