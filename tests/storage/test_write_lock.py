"""SQLite: a transaction that takes the write lock before reading keeps other writers out until it ends,
so a write based on its reads cannot overwrite what another writer committed in between."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from storage.db import Database, take_write_lock


async def test_the_lock_is_held_from_the_first_read_until_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("storage.writers_turn.WAIT_SECONDS", 0.3)  # the other writer gives up soon, not in 30 s
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}")
    try:
        async with db.engine.begin() as setup:
            await setup.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        async with db.engine.connect() as first, db.engine.connect() as second:
            await second.exec_driver_sql("PRAGMA busy_timeout=50")
            await second.commit()
            await first.begin()
            await take_write_lock(first)
            await first.exec_driver_sql("SELECT COUNT(*) FROM t")  # only a read so far
            with pytest.raises(OperationalError, match="locked"):
                async with second.begin():
                    await second.exec_driver_sql("INSERT INTO t VALUES (1)")
            await first.commit()
            async with second.begin():
                await second.exec_driver_sql("INSERT INTO t VALUES (2)")
    finally:
        await db.dispose()
