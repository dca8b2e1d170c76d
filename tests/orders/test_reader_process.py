"""Big files are read by a worker process: it must hand over exactly what a thread would read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orders.errors import ImportInputError
from orders.feed import BatchFeed, ReadPlan
from storage.db import Database
from tests.orders import builders
from tests.orders.helpers import run_import
from tests.orders.snapshot import business_state

THREAD_ONLY = 1 << 40  # no file is this big: read on a thread
ALWAYS_PROCESS = 0


def _mixed_file(path: Path) -> Path:
    rows = []
    for n in range(240):
        number = f"137{n % 60:08d}"
        phone = (number, f"137****{n % 10000:04d}", f"{float(number):.5E}", f"'{number}")[n % 4]
        status = ("交易成功", "买家已付款，等待卖家发货", "交易关闭", "退款成功")[n % 4]
        rows.append(
            builders.tmall_row(
                str(770000000 + n), phone, status=status, paid=f"{10 + n % 90}.00",
                created=f"2025-{1 + n % 12:02d}-{1 + n % 28:02d} 10:00:00", title=f"商品{n % 7}",
            )
        )  # fmt: skip
    rows.append(builders.tmall_row("not-a-number!", "13700000001", paid="abc"))
    return builders.tmall_csv(path, rows)


def _plan(path: Path, **changes: object) -> ReadPlan:
    values: dict[str, object] = {
        "path": path, "platform": "auto", "mapping": None, "batch_size": 50, "dialect": "sqlite",
        "data_key": b"", "erased": frozenset(), "process_bytes": ALWAYS_PROCESS,
    }  # fmt: skip
    values.update(changes)
    return ReadPlan(**values)  # type: ignore[arg-type]


async def test_a_worker_process_imports_exactly_what_a_thread_imports(tmp_path: Path) -> None:
    path = _mixed_file(tmp_path / "ExportOrderList.csv")
    results = []
    for name, process_bytes in (("thread", THREAD_ONLY), ("process", ALWAYS_PROCESS)):
        db = Database(f"sqlite+aiosqlite:///{tmp_path / name}.db")
        await db.create_all()
        report = await run_import(db, path, batch_size=50, process_bytes=process_bytes)
        results.append((report.counts(), await business_state(db)))
        await db.dispose()
    (thread_counts, thread_state), (process_counts, process_state) = results
    assert thread_counts["orders_created"] == 240 and thread_counts["rejected"] >= 1
    assert process_counts == thread_counts
    assert process_state == thread_state


async def test_the_worker_process_is_used_and_ends_with_the_feed(tmp_path: Path) -> None:
    feed = BatchFeed(_plan(_mixed_file(tmp_path / "ExportOrderList.csv")))
    await feed.start()
    try:
        assert feed.in_process
        first = await feed.next()
        assert first is not None and len(first.orders) == 50
        worker = feed._process
        assert worker is not None and worker.returncode is None
    finally:
        await feed.close()
    # Closed half-way through the file: the worker does not linger.
    assert worker.returncode is not None


async def test_a_file_the_worker_cannot_read_is_an_input_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.csv"
    junk.write_bytes(os.urandom(4096) + b"\x00" * 4096)
    feed = BatchFeed(_plan(junk))
    await feed.start()
    try:
        with pytest.raises(ImportInputError, match="junk.csv is neither UTF-8"):
            await feed.next()
    finally:
        await feed.close()
