"""A real importer process killed with SIGKILL mid-import, then run again, converges on a clean run's state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from storage.db import Database
from tests.orders import builders
from tests.orders.snapshot import business_state

pytestmark = pytest.mark.storage

ROOT = Path(__file__).resolve().parents[2]
ROWS = 1500
BATCH = 100  # 15 batches


def _big_file(path: Path) -> Path:
    rows = []
    for n in range(ROWS):
        phone = f"139{n % 700:08d}" if n % 20 else f"139****{n % 10000:04d}"
        status = ("交易成功", "买家已付款，等待卖家发货", "交易关闭")[n % 3]
        rows.append(
            builders.tmall_row(
                str(880000000 + n), phone, status=status, paid=f"{10 + n % 90}.00",
                created=f"2025-{1 + n % 12:02d}-{1 + n % 28:02d} 10:00:00", title=f"商品{n % 17}",
            )
        )  # fmt: skip
    return builders.tmall_csv(path, rows)


def _child(db_url: str, path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(  # noqa: S603 - our own interpreter running our own module
        [sys.executable, "-m", "tests.orders.child_import", db_url, str(path), str(BATCH)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip


def _run_to_end(db_url: str, path: Path) -> None:
    child = _child(db_url, path)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0 and out.endswith("done\n")


def _run_and_kill(db_url: str, path: Path, after_batches: int) -> None:
    child = _child(db_url, path)
    assert child.stdout is not None
    seen = 0
    for line in child.stdout:
        seen += line.startswith("batch ")
        if seen >= after_batches:
            child.send_signal(signal.SIGKILL)  # no clean-up of any kind: as if the power went
            break
    child.wait(timeout=60)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL


async def _empty(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    async with db.engine.begin() as conn:
        if db.is_postgres:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(SQLModel.metadata.sorted_tables):
                await conn.execute(table.delete())


@pytest.mark.parametrize("kill_after", [2, ROWS // BATCH], ids=["mid-batches", "before-enrichment"])
async def test_killed_import_rerun_equals_one_clean_run(
    db: Database, db_url: str, tmp_path: Path, kill_after: int
) -> None:
    path = _big_file(tmp_path / "ExportOrderList.csv")
    _run_and_kill(db_url, path, kill_after)
    async with db.engine.connect() as conn:
        partial = (await conn.execute(text("SELECT COUNT(*) FROM orders"))).scalar_one()
        states = [row[0] for row in await conn.execute(text("SELECT state FROM import_runs"))]
    assert 0 < partial <= ROWS and states == ["running"]
    _run_to_end(db_url, path)
    recovered = await business_state(db)

    await _empty(db)
    _run_to_end(db_url, path)
    clean = await business_state(db)
    assert len(clean["orders"]) == ROWS
    assert recovered["orders"] == clean["orders"]
    assert recovered["profiles"] == clean["profiles"]
    assert recovered["events"] == clean["events"]
