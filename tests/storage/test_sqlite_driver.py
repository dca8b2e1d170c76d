"""SQLite's driver: one hop to the driver's thread per statement, and the writers' turn taken and given
back in that thread, so the event loop's delays never count as time a writer holds everyone's turn."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage import writers_turn
from storage.db import Database

LEASE = "INSERT INTO scheduler_leases VALUES (:name, 'x', '2026-01-01', '2026-01-01')"


@pytest.fixture
async def file_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    await db.create_all()
    yield db
    await db.dispose()


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions sent to any aiosqlite connection's thread from now on, by name."""
    sent: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return sent


async def test_a_query_and_its_rows_are_one_hop_to_the_drivers_thread(file_db: Database, hops: list[str]) -> None:
    async with file_db.engine.begin() as conn:
        for number in range(3):
            await conn.execute(text(LEASE), {"name": f"lease {number}"})
    async with file_db.engine.connect() as conn:
        hops.clear()
        rows = (await conn.execute(text("SELECT name FROM scheduler_leases ORDER BY name"))).scalars().all()
        assert hops == ["statement"]  # SQLAlchemy's adapter: cursor, execute, fetchall, close
        assert rows == ["lease 0", "lease 1", "lease 2"]


async def test_a_write_reports_its_rowcount_and_new_id(file_db: Database) -> None:
    async with file_db.engine.begin() as conn:
        await conn.execute(text(LEASE), {"name": "a"})
        await conn.execute(text(LEASE), {"name": "b"})
        changed = await conn.execute(text("UPDATE scheduler_leases SET holder = 'y'"))
        assert changed.rowcount == 2
        inserted = await conn.execute(
            text("INSERT INTO link_keys (id, key_hex, created_at) VALUES (7, 'ab', '2026-01-01')")
        )
        assert inserted.lastrowid == 7
        many = await conn.execute(text(LEASE), [{"name": "c"}, {"name": "d"}])
        assert many.rowcount == 2


async def test_an_error_is_sqlalchemys_and_the_transaction_goes_on(file_db: Database) -> None:
    async with file_db.engine.connect() as conn:
        await conn.execute(text(LEASE), {"name": "a"})
        with pytest.raises(IntegrityError):
            await conn.execute(text(LEASE), {"name": "a"})
        await conn.rollback()
        await conn.execute(text(LEASE), {"name": "a"})
        await conn.commit()
    with pytest.raises(OperationalError, match="no such table"):
        async with file_db.engine.connect() as conn:
            await conn.execute(text("SELECT * FROM no_such_table"))


async def test_the_turn_is_taken_and_given_back_in_the_drivers_thread(
    file_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given back on the event loop, the turn stayed held until the loop got round to the commit's result:
    # under load, milliseconds in which every other writer of the file waited for nothing.
    threads: list[tuple[str, str]] = []
    take, give_back = writers_turn.take, writers_turn.give_back

    def taking(path: str, wait_seconds: float = writers_turn.WAIT_SECONDS) -> int:
        threads.append(("take", threading.current_thread().name))
        return take(path, wait_seconds)

    def giving_back(fd: int) -> None:
        threads.append(("give back", threading.current_thread().name))
        give_back(fd)

    monkeypatch.setattr(writers_turn, "take", taking)
    monkeypatch.setattr(writers_turn, "give_back", giving_back)
    event_loop = threading.current_thread().name
    async with file_db.engine.begin() as conn:
        await conn.execute(text(LEASE), {"name": "committed"})
    async with file_db.engine.connect() as conn:
        await conn.execute(text(LEASE), {"name": "rolled back"})
        await conn.rollback()
    assert [step for step, _thread in threads] == ["take", "give back", "take", "give back"]
    assert all(thread != event_loop for _step, thread in threads), threads


async def test_a_connection_closed_while_it_writes_gives_the_turn_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers_turn, "WAIT_SECONDS", 2.0)
    url = f"sqlite+aiosqlite:///{tmp_path / 'closed.db'}"
    first, second = Database(url), Database(url)
    await first.create_all()
    try:
        conn = await first.engine.connect()
        await conn.execute(text(LEASE), {"name": "never committed"})
        await conn.invalidate()  # the pool closes it: no rollback is sent first
        await conn.close()
        async with second.engine.begin() as other:  # "no writer's turn in time" if the turn stayed held
            await other.execute(text(LEASE), {"name": "next writer"})
        async with second.engine.connect() as other:
            names = (await other.execute(text("SELECT name FROM scheduler_leases"))).scalars().all()
        assert names == ["next writer"]
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_database_in_memory_takes_no_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_take(*_args: Any) -> int:
        raise AssertionError("a database in memory has no other writer")

    monkeypatch.setattr(writers_turn, "take", no_take)
    db = Database("sqlite+aiosqlite:///:memory:")
    await db.create_all()
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text(LEASE), {"name": "a"})
            assert (await conn.execute(text("SELECT count(*) FROM scheduler_leases"))).scalar_one() == 1
    finally:
        await db.dispose()


async def test_a_write_through_a_streaming_cursor_takes_the_turn_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers_turn, "WAIT_SECONDS", 0.3)
    url = f"sqlite+aiosqlite:///{tmp_path / 'streamed.db'}"
    first, second = Database(url), Database(url)
    await first.create_all()
    try:
        async with first.engine.connect() as holder:
            streamed = await holder.stream(text(LEASE + " RETURNING name"), {"name": "streamed"})
            assert [row.name async for row in streamed] == ["streamed"]
            with pytest.raises(OperationalError, match="no writer's turn in time"):
                async with second.engine.begin() as other:
                    await other.execute(text(LEASE), {"name": "other"})
            await holder.commit()
        async with second.engine.begin() as other:
            await other.execute(text(LEASE), {"name": "other"})
    finally:
        await first.dispose()
        await second.dispose()
