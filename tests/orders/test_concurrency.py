"""Two imports running at once: one row per order, one profile per phone, each event once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orders.importer import ImportOptions, import_file
from scrm.clock import FakeClock
from scrm.settings import Settings
from storage.db import Database
from tests.orders import builders
from tests.orders.helpers import count, rows
from tests.orders.snapshot import business_state

pytestmark = [pytest.mark.concurrency, pytest.mark.storage]


def _file(path: Path, start: int, stop: int) -> Path:
    return builders.tmall_csv(
        path,
        [
            builders.tmall_row(
                str(770000 + n),
                f"137{n % 97:08d}",
                paid=f"{20 + n % 50}.00",
                created=f"2025-{1 + n % 12:02d}-10 10:00:00",
                title=f"商品{n % 7}",
            )
            for n in range(start, stop)
        ],  # fmt: skip
    )


async def _import_both(db_url: str, first: Path, second: Path) -> None:
    databases = [Database(db_url), Database(db_url)]
    try:
        await asyncio.gather(
            *(
                import_file(db, Settings(), path, clock=FakeClock(), options=ImportOptions(batch_size=50))
                for db, path in zip(databases, (first, second), strict=True)
            )
        )
    finally:
        for db in databases:
            await db.dispose()


async def test_same_file_imported_twice_at_once(db: Database, db_url: str, tmp_path: Path) -> None:
    path = _file(tmp_path / "a.csv", 0, 600)
    await _import_both(db_url, path, path)
    assert await count(db, "orders") == 600
    assert await count(db, "profiles") == 97
    duplicates = await rows(
        db, "SELECT dedup_key, COUNT(*) AS n FROM domain_events GROUP BY dedup_key HAVING COUNT(*) > 1"
    )
    assert duplicates == []
    firsts = await rows(db, "SELECT COUNT(*) AS n FROM domain_events WHERE kind = 'first_purchase'")
    assert firsts[0]["n"] == 97
    concurrent = await business_state(db)
    sequential_db = db
    async with sequential_db.engine.begin() as conn:
        from sqlmodel import SQLModel

        for table in reversed(SQLModel.metadata.sorted_tables):
            await conn.execute(table.delete())
    await import_file(db, Settings(), path, clock=FakeClock())
    assert (await business_state(db))["orders"] == concurrent["orders"]
    assert (await business_state(db))["profiles"] == concurrent["profiles"]


async def test_overlapping_files_at_once_share_profiles(db: Database, db_url: str, tmp_path: Path) -> None:
    await _import_both(db_url, _file(tmp_path / "a.csv", 0, 400), _file(tmp_path / "b.csv", 200, 600))
    assert await count(db, "orders") == 600
    assert await count(db, "profiles") == 97
    totals = await rows(db, "SELECT SUM(order_count) AS n FROM profiles")
    purchased = await rows(db, "SELECT COUNT(*) AS n FROM orders WHERE status IN ('paid', 'shipped', 'completed')")
    assert totals[0]["n"] == purchased[0]["n"] == 600
