"""Batches committed together: the same result as one transaction a batch, and a failed transaction
written again whole, counted once."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

import storage.orders
from base.settings import Settings
from base.vault import PhoneVault
from identity.linking import get_or_create_profile
from orders.aggregates import refresh_profiles
from orders.wire import WireBatch
from orders.writer import BatchOutcome, BatchWriter
from storage.db import Database
from tests.orders import builders
from tests.orders.helpers import count, events, orders_by_no, profiles, run_import


def _rows() -> list[list[str]]:
    # Two buyers, five orders each, interleaved: every batch of two holds a purchase of each. Recent
    # enough (for FakeClock) to have their events written.
    return [
        builders.tmall_row(
            str(7000 + n), ("13800138000", "13900139000")[n % 2], created=f"2026-01-0{1 + n // 4} {10 + n}:00:00"
        )
        for n in range(10)
    ]


async def _state(db: Database) -> tuple[Any, ...]:
    orders = await orders_by_no(db)
    found = await events(db)
    purchases = sorted((e["kind"], e["payload"].get("order_no") or e["payload"]["segment"]) for e in found)
    return sorted((no, o["status"], o["paid_fen"]) for no, o in orders.items()), purchases


async def test_one_transaction_for_many_batches_writes_what_one_per_batch_writes(db: Database, tmp_path: Path) -> None:
    path = builders.tmall_csv(tmp_path / "a.csv", _rows())
    grouped = await run_import(db, path, batch_size=2, commit_seconds=3600)
    state = await _state(db)
    assert (grouped.orders_created, grouped.profiles_created) == (10, 2)
    first = sorted(no for kind, no in state[1] if kind == "first_purchase")
    assert first == ["7000", "7001"]  # one per buyer, though their later orders shared the transaction
    for table in ("domain_events", "orders", "profiles"):
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(f"DELETE FROM {table}")  # noqa: S608 - our own table names
    single = await run_import(db, path, batch_size=2, commit_seconds=0)
    assert (single.orders_created, single.profiles_created) == (10, 2)
    # Profile ids differ between the two runs; what each order and event says does not.
    assert await _state(db) == state


@pytest.mark.parametrize("fail_at", [3, 5], ids=["third-batch", "fifth-batch"])
async def test_a_transaction_that_fails_transiently_is_written_again_whole_and_counted_once(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    write = BatchWriter.write
    calls = 0

    async def flaky(self: BatchWriter, conn: AsyncConnection, batch: WireBatch, now: datetime) -> BatchOutcome:
        nonlocal calls
        calls += 1
        outcome = await write(self, conn, batch, now)
        if calls == fail_at:
            raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))
        return outcome

    monkeypatch.setattr(BatchWriter, "write", flaky)
    report = await run_import(db, builders.tmall_csv(tmp_path / "a.csv", _rows()), batch_size=2, commit_seconds=3600)
    # Five batches of two and the reader's closing empty one; the failed transaction's batches once more.
    assert calls == 6 + fail_at
    assert (report.rows_read, report.orders_created, report.orders_unchanged) == (10, 10, 0)
    assert report.profiles_created == 2
    assert await count(db, "orders") == 10
    kinds = sorted(e["kind"] for e in await events(db) if e["kind"].endswith("_purchase"))
    assert kinds == ["first_purchase"] * 2 + ["repeat_purchase"] * 8


@pytest.mark.storage
async def test_profiles_rescored_by_several_workers_match_one_worker(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 20 buyers: seven chunks for two workers, on either backend.
    monkeypatch.setattr("orders.aggregates.REFRESH_CHUNK", 3)
    monkeypatch.setattr("orders.aggregates.REFRESH_CHUNK_SQLITE", 3)
    rows = [
        builders.tmall_row(
            str(8000 + n), f"1380013{n % 20:04d}", paid=f"{10 + n}.00", created=f"2025-0{1 + n % 9}-02 10:00:00"
        )
        for n in range(60)
    ]
    await run_import(db, builders.tmall_csv(tmp_path / "a.csv", rows))
    ids = [p["id"] for p in await profiles(db)]

    async def rescored(workers: int) -> list[tuple[Any, ...]]:
        async with db.engine.begin() as conn:  # forget the import's own scoring
            await conn.exec_driver_sql("UPDATE profiles SET order_count = 0, total_spent_fen = 0, segment = 'prospect'")
        changed = await refresh_profiles(db, ids, datetime(2026, 1, 5, tzinfo=UTC), workers=workers)
        assert changed == 20
        found = await profiles(db)
        return [(p["id"], p["order_count"], p["total_spent_fen"], p["segment"], p["top_products"]) for p in found]

    together, alone = await rescored(2), await rescored(1)
    assert len(together) == 20 and all(row[1] == 3 for row in together)
    assert together == alone


async def test_a_dry_run_batch_tried_again_after_a_transient_failure_counts_the_same(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = builders.tmall_csv(tmp_path / "a.csv", _rows())
    real_lookup = storage.orders.stored_orders
    looks = 0

    async def flaky(*args: Any, **kwargs: Any) -> dict[str, tuple[Any, ...]]:
        nonlocal looks
        looks += 1
        if looks == 1:  # the first batch's profiles were already looked at and counted
            raise OperationalError("SELECT ...", {}, sqlite3.OperationalError("database is locked"))
        return await real_lookup(*args, **kwargs)

    monkeypatch.setattr("orders.writer.stored_orders", flaky)
    dry = await run_import(db, path, batch_size=2, dry_run=True)
    monkeypatch.undo()
    real = await run_import(db, path, batch_size=2)
    assert looks > 1
    assert (dry.profiles_created, dry.orders_created) == (real.profiles_created, real.orders_created) == (2, 10)


@pytest.mark.storage
async def test_a_binding_of_a_phone_being_imported_waits_for_one_batch_not_for_the_whole_import(
    db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follower binding a phone the open import transaction has just added waits for that transaction.
    The import commits as soon as it sees someone waiting (on PostgreSQL: blocked on a row it wrote), so
    the binding's callback is answered in time, not after the whole file (the soak's late replies)."""
    rows = [builders.tmall_row(str(8000 + n), f"139{n:08d}") for n in range(12)]
    path = builders.tmall_csv(tmp_path / "a.csv", rows)
    write = BatchWriter.write
    first_written = asyncio.Event()

    async def slow(self: BatchWriter, conn: AsyncConnection, batch: WireBatch, now: datetime) -> BatchOutcome:
        outcome = await write(self, conn, batch, now)
        first_written.set()
        await asyncio.sleep(0.3)  # six batches: the whole file holds its transaction for about 2 s
        return outcome

    monkeypatch.setattr(BatchWriter, "write", slow)
    importing = asyncio.create_task(run_import(db, path, batch_size=2, commit_seconds=3600))
    await asyncio.wait([importing, asyncio.ensure_future(first_written.wait())], return_when=asyncio.FIRST_COMPLETED)
    assert first_written.is_set(), importing.result()  # an import that failed at once shows its error here
    other = Database(db_url)  # the gateway's own engine, as in another process
    try:
        async with other.session() as session:
            profile, created = await get_or_create_profile(
                session, PhoneVault(Settings().data_key), "+8613900000000", datetime.now(UTC)
            )
            await session.commit()
        imported_by_then = await count(other, "orders")
    finally:
        await other.dispose()
    report = await importing
    assert not created and profile.id is not None  # the import's profile, found once it committed
    assert 0 < imported_by_then < 12, imported_by_then
    assert report.orders_created == 12 and await count(db, "orders") == 12
