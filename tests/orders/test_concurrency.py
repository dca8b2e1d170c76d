"""Two imports running at once: one row per order, one profile per phone, each event once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

import storage.orders
import storage.profiles
from base.clock import FakeClock
from base.settings import Settings
from orders import importer
from orders.feed import BatchFeed
from orders.importer import ImportOptions, import_file
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
                created=f"2026-01-0{1 + n % 4} 10:00:00",
                title=f"商品{n % 7}",
            )
            for n in range(start, stop)
        ],  # fmt: skip
    )


async def _import_both(db_url: str, first: Path, second: Path, commit_seconds: float = 1.0) -> None:
    databases = [Database(db_url), Database(db_url)]
    options = ImportOptions(batch_size=50, commit_seconds=commit_seconds)
    try:
        await asyncio.gather(
            *(
                import_file(db, Settings(), path, clock=FakeClock(), options=options)
                for db, path in zip(databases, (first, second), strict=True)
            )
        )
    finally:
        for db in databases:
            await db.dispose()


# Committing every batch interleaves the two imports finely; a second per transaction, coarsely.
@pytest.mark.parametrize("commit_seconds", [0, 1.0], ids=["commit-each-batch", "commit-each-second"])
async def test_same_file_imported_twice_at_once(
    db: Database, db_url: str, tmp_path: Path, commit_seconds: float
) -> None:
    path = _file(tmp_path / "a.csv", 0, 600)
    await _import_both(db_url, path, path, commit_seconds)
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


async def test_orders_added_by_another_import_after_the_look_are_merged_not_duplicated(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer looks for a batch's orders, finds none, and inserts them without conflict handling;
    when another import added them in between, the transaction is written again and finds them."""
    if not db.is_postgres:
        pytest.skip("PostgreSQL only: SQLite always inserts orders with ON CONFLICT")
    path = _file(tmp_path / "a.csv", 0, 60)
    await import_file(db, Settings(), path, clock=FakeClock())
    before = await business_state(db)
    looks = 0
    real = storage.orders.stored_orders

    async def missed_once(*args: Any, **kwargs: Any) -> dict[str, tuple[Any, ...]]:
        nonlocal looks
        looks += 1
        # The first look "misses" every order, as if it ran just before the other import committed.
        return {} if looks == 1 else await real(*args, **kwargs)

    monkeypatch.setattr("orders.writer.stored_orders", missed_once)
    report = await import_file(db, Settings(), path, clock=FakeClock())
    assert looks == 2
    assert (report.orders_created, report.orders_unchanged) == (0, 60)
    assert await count(db, "orders") == 60
    assert await business_state(db) == before


async def test_a_buyer_another_import_created_meanwhile_gets_a_repeat_purchase(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer looks for a batch's buyers and misses one that another import creates just then: its
    insert of that profile does nothing, and the profile is the other import's, with its purchase."""
    if not db.is_postgres:
        pytest.skip("PostgreSQL only: on SQLite the import holds the write lock from its look on")
    first = builders.tmall_row("880001", "13700000001", created="2026-01-01 10:00:00")
    second = builders.tmall_row("880002", "13700000001", created="2026-01-02 10:00:00")
    await import_file(db, Settings(), builders.tmall_csv(tmp_path / "a.csv", [first]), clock=FakeClock())
    looks = 0
    real = storage.profiles.profile_ids

    async def missed_once(*args: Any, **kwargs: Any) -> dict[str, int]:
        nonlocal looks
        looks += 1
        return {} if looks == 1 else await real(*args, **kwargs)

    monkeypatch.setattr("orders.writer.profile_ids", missed_once)
    report = await import_file(db, Settings(), builders.tmall_csv(tmp_path / "b.csv", [second]), clock=FakeClock())
    assert looks == 2  # the missed look, then the one for the profile another import created
    assert (report.profiles_created, report.orders_created) == (0, 1)
    purchases = await rows(
        db, "SELECT kind, payload FROM domain_events WHERE kind IN ('first_purchase', 'repeat_purchase') ORDER BY id"
    )
    kinds = [(row["kind"], _order_no(row["payload"])) for row in purchases]
    assert kinds == [("first_purchase", "880001"), ("repeat_purchase", "880002")]


def _order_no(payload: Any) -> str:
    return str((json.loads(payload) if isinstance(payload, str) else payload)["order_no"])


def _purchases_by_order(found: list[dict[str, Any]]) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {}
    for row in found:
        kinds.setdefault(_order_no(row["payload"]), []).append(row["kind"])
    return kinds


async def _purchase_events(db: Database) -> list[dict[str, Any]]:
    return await rows(
        db, "SELECT kind, payload FROM domain_events WHERE kind IN ('first_purchase', 'repeat_purchase') ORDER BY id"
    )


async def test_a_purchase_another_import_wrote_for_a_profile_this_import_created_makes_the_next_a_repeat(
    db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Import A creates a buyer from an unpaid order and commits; import B, running at the same time,
    writes the buyer's first paid order; then A writes the buyer's next paid order. A used to take the
    profile it created as having only its own orders: it wrote a second first_purchase, which the
    dedup key dropped, and the repeat_purchase was lost."""
    phone = "13700000077"
    first = builders.tmall_row("990001", phone, status="等待买家付款", created="2026-01-01 10:00:00")
    later = builders.tmall_row("990003", phone, created="2026-01-03 10:00:00")
    other = builders.tmall_row("990002", phone, created="2026-01-02 10:00:00")
    path_a = builders.tmall_csv(tmp_path / "a.csv", [first, later])
    path_b = builders.tmall_csv(tmp_path / "b.csv", [other])
    b_done = asyncio.Event()

    class PausedFeed(BatchFeed):
        """A's feed waits for B to finish before handing over its second batch."""

        handed = 0

        async def next(self) -> Any:
            if self._plan.path == path_a and self.handed == 1:
                await b_done.wait()
            self.handed += 1
            return await super().next()

    monkeypatch.setattr(importer, "BatchFeed", PausedFeed)
    databases = [Database(db_url), Database(db_url)]
    options = ImportOptions(batch_size=1, commit_seconds=0)

    async def import_b() -> None:
        await asyncio.sleep(0.05)  # A's first batch is in by then (A waits for B in any case)
        try:
            await import_file(databases[1], Settings(), path_b, clock=FakeClock(), options=options)
        finally:
            b_done.set()

    try:
        await asyncio.gather(
            import_file(databases[0], Settings(), path_a, clock=FakeClock(), options=options), import_b()
        )
    finally:
        for database in databases:
            await database.dispose()
    assert await count(db, "profiles") == 1
    assert _purchases_by_order(await _purchase_events(db)) == {
        "990002": ["first_purchase"],
        "990003": ["repeat_purchase"],
    }


async def test_two_imports_deciding_a_buyers_first_purchase_at_once_decide_it_once(
    db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A buyer known from an unpaid order; import A writes a paid order of theirs and keeps its
    transaction open; import B writes another paid order meanwhile. On PostgreSQL B used not to see A's
    uncommitted order: both wrote a first_purchase, the dedup key kept A's, and B's purchase had none."""
    phone = "13700000088"
    unpaid = builders.tmall_row("991001", phone, status="等待买家付款", created="2026-01-01 10:00:00")
    await import_file(db, Settings(), builders.tmall_csv(tmp_path / "0.csv", [unpaid]), clock=FakeClock())
    path_a = builders.tmall_csv(tmp_path / "a.csv", [builders.tmall_row("991002", phone, created="2026-01-02 10:00")])
    path_b = builders.tmall_csv(tmp_path / "b.csv", [builders.tmall_row("991003", phone, created="2026-01-03 10:00")])
    b_started, b_done = asyncio.Event(), asyncio.Event()

    class HeldFeed(BatchFeed):
        """A's transaction stays open after its order until B is done, or for a second if B waits for A."""

        handed = 0

        async def next(self) -> Any:
            if self._plan.path == path_a and self.handed == 1:
                b_started.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(b_done.wait(), 1.0)
            self.handed += 1
            return await super().next()

    monkeypatch.setattr(importer, "BatchFeed", HeldFeed)
    databases = [Database(db_url), Database(db_url)]

    async def import_b() -> None:
        await b_started.wait()
        try:
            await import_file(databases[1], Settings(), path_b, clock=FakeClock(), options=ImportOptions())
        finally:
            b_done.set()

    options = ImportOptions(batch_size=1, commit_seconds=60)
    try:
        await asyncio.gather(
            import_file(databases[0], Settings(), path_a, clock=FakeClock(), options=options), import_b()
        )
    finally:
        for database in databases:
            await database.dispose()
    assert _purchases_by_order(await _purchase_events(db)) == {
        "991002": ["first_purchase"],
        "991003": ["repeat_purchase"],
    }


def _unpaid_first_file(path: Path, rows_count: int, buyers: int) -> Path:
    """Each buyer's first order is unpaid, the later ones paid, spread over the file; all recent."""
    rows = []
    for n in range(rows_count):
        buyer = n % buyers
        status = "等待买家付款" if n < buyers else "交易成功"
        day = 1 + n * 4 // rows_count
        rows.append(
            builders.tmall_row(
                str(660000 + n), f"136{buyer:08d}", status=status, created=f"2026-01-0{day} 1{n % 10}:00:00"
            )
        )
    return builders.tmall_csv(path, rows)


@pytest.mark.parametrize("commit_seconds", [0, 1.0], ids=["commit-each-batch", "commit-each-second"])
async def test_events_are_exact_when_the_same_file_is_imported_twice_at_once(
    db: Database, db_url: str, tmp_path: Path, commit_seconds: float
) -> None:
    """Every paid order gets exactly one purchase event, each buyer exactly one first_purchase."""
    buyers = 150
    path = _unpaid_first_file(tmp_path / "a.csv", 3_000, buyers)
    await _import_both(db_url, path, path, commit_seconds)
    kinds = _purchases_by_order(await _purchase_events(db))
    paid = await rows(db, "SELECT order_no FROM orders WHERE status IN ('paid', 'shipped', 'completed')")
    assert len(paid) == 3_000 - buyers
    assert sorted(kinds) == sorted(row["order_no"] for row in paid)
    assert all(len(found) == 1 for found in kinds.values())
    assert sum(found == ["first_purchase"] for found in kinds.values()) == buyers
