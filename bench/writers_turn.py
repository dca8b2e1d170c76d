"""Benchmark: many write transactions of one process contending for SQLite's one writer.

    python bench/writers_turn.py                      # 30 writers, 10 s
    python bench/writers_turn.py --writers 60 --seconds 20

Each writer loops over short transactions of the application's engine, as the handlers of a burst of
callbacks do: an insert, a little Python, a read and an update, then commit. All of them take turns at
the lock file (storage/writers_turn.py). It prints transactions a second, the process's CPU seconds and
the event loop's lag (how late a 10 ms sleep wakes), so the cost of waiting for the turn shows beside
the work itself. To measure other code, run a copy of this file in a worktree of it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.processes import load_average  # noqa: E402
from storage.db import Database  # noqa: E402


async def measure(writers: int, seconds: float, folder: Path) -> str:
    db = Database(f"sqlite+aiosqlite:///{folder / 'turns.db'}", pool_size=writers)
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    stop = time.monotonic() + seconds
    done = 0
    lags: list[float] = []

    async def writer() -> None:
        nonlocal done
        while time.monotonic() < stop:
            async with db.engine.begin() as conn:
                await conn.exec_driver_sql("INSERT INTO t (v) VALUES ('a')")
                sum(range(20_000))  # a handler's own Python inside its transaction, about 0.3 ms
                await conn.exec_driver_sql("SELECT count(*) FROM t WHERE id < 10")
                await conn.exec_driver_sql("UPDATE t SET v = 'b' WHERE id = 1")
            done += 1

    async def loop_lag() -> None:
        while time.monotonic() < stop:
            started = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - started - 0.01)

    cpu = time.process_time()
    await asyncio.gather(loop_lag(), *(writer() for _ in range(writers)))
    cpu = time.process_time() - cpu
    await db.dispose()
    lags.sort()
    return (
        f"{writers} writers: {done / seconds:,.0f} transactions/s, CPU {cpu:.1f} s in {seconds:g} s, "
        f"loop lag p50 {lags[len(lags) // 2] * 1000:.1f} ms, p99 {lags[int(len(lags) * 0.99)] * 1000:.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scrm-turns-") as folder:
        print(asyncio.run(measure(args.writers, args.seconds, Path(folder))), f"(load {load_average()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
