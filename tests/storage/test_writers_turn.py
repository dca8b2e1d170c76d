"""SQLite's one writer taken in turns: engine transactions and the group commit queue on one lock file,
a waiting writer is visible to the holder, and a transaction that never writes takes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util import await_only

from base.clock import FakeClock
from storage import writers_turn
from storage.db import Database, writers_waiting
from storage.followers import interaction_write
from storage.group_commit import group_commit
from storage.writers_turn import is_write


async def _someone_waits(holder: AsyncConnection) -> bool:
    """Whether a writer waits for `holder`, asked until one does (a waiter shows within milliseconds) or 5 s."""
    for _ in range(500):
        if await writers_waiting(holder):
            return True
        await asyncio.sleep(0.01)
    return False


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Database, Database]]:
    """Two engines on one file, as two processes would have."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}"
    first, second = Database(url), Database(url)
    await first.create_all()
    yield first, second
    await first.dispose()
    await second.dispose()


async def test_a_writer_waits_for_the_holders_commit_and_the_holder_sees_it_wait(
    two: tuple[Database, Database],
) -> None:
    first, second = two
    order: list[str] = []
    async with first.engine.connect() as holder:
        await holder.execute(text("INSERT INTO scheduler_leases VALUES ('a', 'x', '2026-01-01', '2026-01-01')"))
        assert not await writers_waiting(holder)

        async def other_writer() -> None:
            async with second.engine.begin() as conn:
                await conn.execute(text("INSERT INTO scheduler_leases VALUES ('b', 'y', '2026-01-01', '2026-01-01')"))
            order.append("second committed")

        waiting = asyncio.create_task(other_writer())
        assert await _someone_waits(holder) and not waiting.done()
        order.append("first commits")
        await holder.commit()
        await waiting
    assert order == ["first commits", "second committed"]


async def test_the_group_commit_queues_behind_an_engine_writer(two: tuple[Database, Database]) -> None:
    first, second = two
    clock = FakeClock()
    write = interaction_write(appid="wx", openid="o1", kind="text", at=clock.now(), is_message=True,
                              opens_event_window=False)  # fmt: skip
    async with first.engine.connect() as holder:
        await holder.execute(text("INSERT INTO scheduler_leases VALUES ('a', 'x', '2026-01-01', '2026-01-01')"))
        recorded = asyncio.create_task(group_commit(second).run(write))
        assert await _someone_waits(holder) and not recorded.done()
        await holder.commit()
    assert (await recorded).values["openid"] == "o1"


async def test_reading_takes_no_turn(two: tuple[Database, Database]) -> None:
    first, second = two
    async with first.engine.connect() as reader:
        await reader.execute(text("SELECT count(*) FROM followers"))
        async with second.engine.begin() as writer:  # would wait 30 s if the read had taken the turn
            await writer.execute(text("INSERT INTO scheduler_leases VALUES ('b', 'y', '2026-01-01', '2026-01-01')"))


def test_which_statements_write() -> None:
    assert is_write("INSERT INTO t VALUES (1)") and is_write("  update t set a = 1")
    assert is_write("BEGIN IMMEDIATE") and is_write("WITH x AS (SELECT 1) DELETE FROM t")
    assert not is_write("SELECT 1") and not is_write("WITH x AS (SELECT 1) SELECT * FROM x")
    assert not is_write("SAVEPOINT sa_1") and not is_write("PRAGMA foreign_keys")


@pytest.mark.storage
async def test_on_either_backend_the_holder_sees_a_writer_blocked_on_its_rows(db: Database, db_url: str) -> None:
    # An import's transaction commits early when someone waits for it (orders.transactions). On
    # PostgreSQL what waits is a session blocked on a row the import wrote: a binding of a phone it has
    # just added. Unseen, such a callback waited out the import's transaction, past WeChat's deadline.
    other = Database(db_url)
    try:
        async with db.engine.connect() as holder:
            await holder.execute(text("INSERT INTO scheduler_leases VALUES ('a', 'x', '2026-01-01', '2026-01-01')"))
            assert not await writers_waiting(holder)

            async def same_key() -> None:
                async with other.engine.begin() as conn:
                    await conn.execute(
                        text("INSERT INTO scheduler_leases VALUES ('a', 'y', '2026-01-01', '2026-01-01')"
                             " ON CONFLICT DO NOTHING")
                    )  # fmt: skip

            blocked = asyncio.create_task(same_key())
            assert await _someone_waits(holder) and not blocked.done()
            await holder.commit()
            await blocked
            assert not await writers_waiting(holder)
    finally:
        await other.dispose()


async def test_the_turn_is_held_until_sqlite_has_committed(two: tuple[Database, Database]) -> None:
    # SQLAlchemy's "commit" event fires before the driver commits. A turn given back there let the next
    # writer in while SQLite still held its own lock, and it waited in SQLite's busy handler (sleeps of up
    # to 100 ms) with everyone else queued behind it. Here the next writer may not wait at all in SQLite.
    first, second = two

    @event.listens_for(second.engine.sync_engine, "connect")
    def no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.cursor().execute("PRAGMA busy_timeout=0")

    dialect = first.engine.sync_engine.dialect
    commit = dialect.do_commit

    def slow_commit(dbapi_connection: Any) -> None:
        await_only(asyncio.sleep(0.3))  # a big transaction's pages being written out
        commit(dbapi_connection)

    dialect.do_commit = slow_commit  # type: ignore[method-assign]
    async with first.engine.connect() as holder:
        await holder.execute(text("INSERT INTO scheduler_leases VALUES ('a', 'x', '2026-01-01', '2026-01-01')"))

        async def other_writer() -> None:
            async with second.engine.begin() as conn:
                await conn.execute(text("INSERT INTO scheduler_leases VALUES ('b', 'y', '2026-01-01', '2026-01-01')"))

        waiting = asyncio.create_task(other_writer())
        assert await _someone_waits(holder)
        await holder.commit()
        await waiting  # "database is locked" when it was let in before the commit ended


async def test_writers_of_one_process_wait_for_the_turn_without_polling_each(
    two: tuple[Database, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each waiting writer used to try the lock file every 2 ms: under a burst, 16 threads took the
    # interpreter from the event loop 8,000 times a second, and the holder's transaction ran slower still.
    first, second = two
    tries = 0
    try_lock = writers_turn._try

    def counted(fd: int) -> bool:
        nonlocal tries
        tries += 1
        return try_lock(fd)

    monkeypatch.setattr(writers_turn, "_try", counted)
    async with first.engine.connect() as holder:
        await holder.execute(text("INSERT INTO scheduler_leases VALUES ('a', 'x', '2026-01-01', '2026-01-01')"))

        async def other_writer(number: int) -> None:
            async with second.engine.begin() as conn:
                await conn.execute(
                    text("INSERT INTO scheduler_leases VALUES (:name, 'y', '2026-01-01', '2026-01-01')"),
                    {"name": f"w{number}"},
                )

        waiting = [asyncio.create_task(other_writer(number)) for number in range(10)]
        assert await _someone_waits(holder)
        tries = 0
        await asyncio.sleep(0.5)
        polled = tries
        await holder.commit()
        await asyncio.gather(*waiting)
    # One writer polls (every 2 ms: at most 250 tries in 0.5 s); the other nine sleep until it is their turn.
    assert polled <= 300, polled
