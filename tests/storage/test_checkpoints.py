"""SQLite's log is copied into the database beside the writers, never inside a writer's commit."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import checkpoints, writers_turn
from storage.db import Database, writers_waiting
from storage.group_commit import GroupCommit

pytestmark = pytest.mark.storage

PAGE = 4096


@pytest.fixture
async def file_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'scrm.db'}")
    async with database.engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)")
    yield database
    await database.dispose()


def _path(db: Database) -> str:
    path = db.engine.url.database
    assert path is not None
    return path


def _size(path: str) -> int:
    return os.path.getsize(path)


def _log_frames(path: str) -> int:
    """Frames in the log now, read from the log's header by a checkpoint that copies nothing new."""
    with closing(sqlite3.connect(path)) as connection:
        row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(row[1])


async def _write_pages(db: Database, commits: int, pages_each: int) -> None:
    for _ in range(commits):
        async with db.engine.begin() as conn:
            await conn.execute(text("INSERT INTO blobs (body) VALUES (randomblob(:size))"), {"size": pages_each * PAGE})


async def _eventually(check: object, seconds: float = 10.0) -> None:
    assert callable(check)
    give_up = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < give_up, "not within 10 s"
        await asyncio.sleep(0.05)  # polling a file another thread writes, not a timing assumption


async def test_no_connection_of_the_application_checkpoints_inside_its_commit(file_db: Database) -> None:
    """A commit that copied the log held the writers' turn meanwhile: 100-270 ms for every other writer."""
    async with file_db.engine.connect() as conn:
        assert await conn.scalar(text("PRAGMA wal_autocheckpoint")) == 0
    group = GroupCommit(file_db)
    try:
        connection = await asyncio.to_thread(group._connect)
        assert connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    finally:
        await asyncio.to_thread(group.close)


async def test_the_log_is_copied_into_the_database_and_started_again(file_db: Database) -> None:
    path = _path(file_db)
    before = _size(path)
    await _write_pages(file_db, commits=20, pages_each=100)  # 8 MB, four times SQLite's default log
    # Copied by the process's checkpointer, though no commit copied anything.
    await _eventually(lambda: _size(path) >= before + 20 * 100 * PAGE)
    # Fully copied, so the next writer starts the log again from its beginning: it stays small.
    await _eventually(lambda: not checkpoints.checkpointer(path).working)
    await _write_pages(file_db, commits=1, pages_each=1)
    assert _log_frames(path) < 20


def _commit_beside(path: str) -> None:
    """A commit of another writer, which takes the turn as every writer does."""
    fd = writers_turn.take(writers_turn.lock_path(path), wait_seconds=5)
    try:
        with closing(sqlite3.connect(path, isolation_level=None)) as connection:
            connection.execute("INSERT INTO blobs (body) VALUES (randomblob(40960))")
    finally:
        writers_turn.give_back(fd)


async def test_what_is_committed_during_the_copy_is_copied_holding_the_turn(
    file_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log copied only beside the writers is never all copied while they go on committing, so it never
    starts again: under callbacks it grew by 40 MB a second, without bound."""
    monkeypatch.setattr(checkpoints, "nudge", lambda _path: None)  # only the checkpointer below copies
    path = _path(file_db)
    await _write_pages(file_db, commits=5, pages_each=10)
    copies = 0
    original = checkpoints.Checkpointer.checkpoint

    def checkpoint(connection: sqlite3.Connection) -> tuple[int, int, int]:
        nonlocal copies
        result = original(connection)  # its figures: the log as the copy began
        copies += 1
        if copies == 1:
            _commit_beside(path)  # committed while the bulk was being copied
        return result

    monkeypatch.setattr(checkpoints.Checkpointer, "checkpoint", staticmethod(checkpoint))
    with closing(sqlite3.connect(path, isolation_level=None, check_same_thread=False)) as connection:
        await asyncio.to_thread(checkpoints.Checkpointer(path)._checkpoint_both_ways, connection)
    await _write_pages(file_db, commits=1, pages_each=1)
    assert _log_frames(path) < 5  # the log started again: it holds only the last commit


async def test_the_bulk_is_copied_beside_the_writers_and_only_the_rest_holding_the_turn(
    file_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the checkpointer copies the bulk, a writer gets the turn at once (no busy wait at all)."""
    path = _path(file_db)
    writer_got_in: list[bool] = []
    holding: list[int] = []
    original_checkpoint = checkpoints.Checkpointer.checkpoint
    original_take = writers_turn.take_blocking

    def take_blocking(lock: str, *, announce: bool = True) -> int:
        fd = original_take(lock, announce=announce)
        holding.append(fd)
        return fd

    def checkpoint(connection: sqlite3.Connection) -> tuple[int, int, int]:
        if not holding and not writer_got_in:  # beside the writers: another writer commits, without waiting
            fd = writers_turn.take(writers_turn.lock_path(path), wait_seconds=0)
            try:
                with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as other:
                    other.execute("INSERT INTO blobs (body) VALUES (randomblob(4096))")
                writer_got_in.append(True)
            finally:
                writers_turn.give_back(fd)
        result = original_checkpoint(connection)
        holding.clear()
        return result

    monkeypatch.setattr(writers_turn, "take_blocking", take_blocking)
    monkeypatch.setattr(checkpoints.Checkpointer, "checkpoint", staticmethod(checkpoint))
    await _write_pages(file_db, commits=40, pages_each=50)
    await _eventually(lambda: not checkpoints.checkpointer(path).working)
    assert writer_got_in, "no checkpoint ran"


async def test_a_long_transaction_is_not_hurried_by_the_checkpointer(
    file_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import's batch commits early when a writer waits; the checkpointer's copy can wait for it."""
    monkeypatch.setattr(checkpoints, "nudge", lambda _path: None)  # only the checkpointer below copies
    path = _path(file_db)
    await _write_pages(file_db, commits=2, pages_each=10)
    about_to_wait = threading.Event()
    original_take = writers_turn.take_blocking

    def take_blocking(lock: str, *, announce: bool = True) -> int:
        about_to_wait.set()
        return original_take(lock, announce=announce)

    monkeypatch.setattr(writers_turn, "take_blocking", take_blocking)
    async with file_db.engine.connect() as holder:
        await holder.execute(text("INSERT INTO blobs (body) VALUES (x'00')"))  # holds the turn
        with closing(sqlite3.connect(path, isolation_level=None, check_same_thread=False)) as connection:
            copying = asyncio.create_task(
                asyncio.to_thread(checkpoints.Checkpointer(path)._checkpoint_both_ways, connection)
            )
            await asyncio.to_thread(about_to_wait.wait, 5)
            give_up = time.monotonic() + 0.3
            while time.monotonic() < give_up:  # an announced waiter shows within microseconds
                assert not await writers_waiting(holder)
                await asyncio.sleep(0.01)
            assert not copying.done()  # it waits for the turn, unannounced
            await holder.commit()
            await copying
