"""Benchmark: import a realistic Tmall export into SQLite and PostgreSQL.

    python bench/import_orders.py                       # 1,000,000 rows, SQLite and PostgreSQL
    python bench/import_orders.py --rows 200000 --backend sqlite
    python bench/import_orders.py --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/scrm_bench

The file is GB18030 with Excel guards, about 30 % as many distinct buyers as rows, and 5 % unusable
phones (masked, relay numbers with extensions, scientific notation); its orders span the year before the
day it is generated, so about 2 % are recent enough for their domain events to be written. Imports run
with a data key (`--no-key`: without), as a shop that keeps phones encrypted at rest does. Each import runs in its own
process so its peak memory (max RSS) is its own; the reader worker process a big file gets is
reported beside it. The baseline is a bare `csv.reader` pass over the
same file, timed in the same run. Goals: 40,000 rows/s into SQLite, 25,000 into PostgreSQL, < 300 MB.
After each import, the floor (bench/floor.py): its orders and events stored again into empty copies
of their tables with nothing else done, the most any import can reach here with this schema.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADERS = [
    "订单编号", "买家会员名", "买家应付货款", "总金额", "买家实际支付金额", "订单状态", "收货人姓名", "收货地址 ",
    "联系电话 ", "联系手机", "订单创建时间", "订单付款时间 ", "宝贝标题 ", "宝贝总数量", "店铺名称", "退款金额",
    "确认收货时间", "打款商家金额",
]  # fmt: skip
STATUSES = ["交易成功"] * 6 + ["买家已付款，等待卖家发货", "卖家已发货，等待买家确认", "交易关闭", "等待买家付款"]
CITIES = [
    "浙江省 杭州市 西湖区", "广东省 深圳市 南山区", "北京 北京市 朝阳区", "上海 上海市 浦东新区", "江苏省 南京市 鼓楼区"
]  # fmt: skip
PRODUCTS = [f"玻尿酸补水面霜 {size}ml 第{n}代" for n in range(1, 40) for size in (30, 50)]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def _phone(rng: random.Random, buyer: int) -> str:
    number = f"13{buyer % 10}{buyer:08d}"  # one stable mobile per buyer
    roll = rng.random()
    if roll < 0.02:
        return f"{number[:3]}****{number[-4:]}"
    if roll < 0.035:
        return f"{number}-{rng.randint(1000, 9999)}"
    if roll < 0.05:
        return f"{float(number):.5E}"
    return rng.choice((number, number, f"'{number}", f"{number}.0"))


def generate(path: Path, rows: int, last_day: date, seed: int = 7) -> None:
    """Write the benchmark file: orders of the 365 days up to `last_day`."""
    rng = random.Random(seed)
    buyers = max(1, rows * 3 // 10)
    with path.open("w", encoding="gb18030", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for n in range(rows):
            buyer = rng.randrange(buyers)
            paid = f"{rng.randint(1990, 99900) / 100:.2f}"
            day = (last_day - timedelta(days=rng.randrange(365))).isoformat()
            created = f"{day} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
            status = rng.choice(STATUSES)
            writer.writerow(
                [
                    f'="{3700000000000000000 + n}"', f"buyer{buyer}", paid, paid, paid, status,
                    SURNAMES[buyer % len(SURNAMES)] + "先生", f"{CITIES[buyer % len(CITIES)]} 某路{buyer % 999}号",
                    "", _phone(rng, buyer), created, created, rng.choice(PRODUCTS), str(rng.randint(1, 3)),
                    "官方旗舰店", "0.00" if status != "交易关闭" else paid, created if status == "交易成功" else "",
                    f"{paid}元",
                ]
            )  # fmt: skip


def baseline(path: Path) -> float:
    """Seconds for a bare csv.reader pass (decode + split), the floor any importer stands on."""
    started = time.perf_counter()
    with path.open(encoding="gb18030", newline="") as handle:
        for _row in csv.reader(handle):
            pass
    return time.perf_counter() - started


async def _import(url: str, path: Path, data_key: bytes) -> dict[str, object]:
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401
    from base.clock import SystemClock
    from base.settings import Settings
    from orders.importer import import_file
    from storage.db import Database

    if url.startswith("postgresql"):
        await _ensure_database(url)
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.drop_all)
        await conn.run_sync(SQLModel.metadata.create_all)
    started = time.perf_counter()
    report = await import_file(db, Settings(database_url=url, data_key=data_key), path, clock=SystemClock())
    elapsed = time.perf_counter() - started
    async with db.engine.connect() as conn:
        events = (await conn.exec_driver_sql("SELECT COUNT(*) FROM domain_events")).scalar_one()
    await db.dispose()
    return {"seconds": elapsed, "events": events, **report.counts()}


async def _floor(url: str) -> dict[str, tuple[int, float]]:
    """The imported orders and events stored again with nothing else done (see bench/floor.py)."""
    from sqlalchemy.engine import make_url

    from bench.floor import postgres_floor, sqlite_floor

    target = make_url(url)
    if target.get_backend_name() == "sqlite":
        database = Path(str(target.database))
        return await asyncio.to_thread(sqlite_floor, database, database.with_name("floor.db"))
    return await postgres_floor(target.set(drivername="postgresql").render_as_string(hide_password=False))


async def _ensure_database(url: str) -> None:
    """Create the benchmark's PostgreSQL database when the server does not have it yet."""
    import asyncpg
    from sqlalchemy.engine import make_url

    target = make_url(url)
    server = await asyncpg.connect(
        user=target.username, password=target.password, host=target.host, port=target.port, database="postgres"
    )
    try:
        if not await server.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", target.database):
            await server.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await server.close()


def child(url: str, path: Path, data_key: bytes) -> None:
    """Run one import and print its figures as JSON (peak memory is this process's max RSS)."""
    result = asyncio.run(_import(url, path, data_key))
    own, reader = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result["peak_mb"] = own.ru_maxrss / 1024
    # The reader worker process (orders.feed), waited for by the importer: its own peak.
    result["reader_peak_mb"] = reader.ru_maxrss / 1024
    # CPU seconds, which other work on a shared machine inflates far less than the elapsed time (the
    # importer's include its start-up and, on SQLite, the database's own work; PostgreSQL's is not here).
    result["cpu_s"] = own.ru_utime + own.ru_stime
    result["reader_cpu_s"] = reader.ru_utime + reader.ru_stime
    # After the peaks are read: the floor's own reads would count as the import's memory otherwise.
    result["floor"] = asyncio.run(_floor(url))
    print(json.dumps(result))


def _floor_line(name: str, rows: int, goal: int, floor: dict[str, list[float]], import_rate: float) -> str:
    (orders, orders_s), (events, events_s) = floor["orders"], floor["domain_events"]
    rate = rows / (orders_s + events_s)
    return (
        f"{name} floor: storing the same {int(orders):,} orders and {int(events):,} events, nothing else: "
        f"{orders_s + events_s:.1f} s = {rate:,.0f} rows/s (orders {orders_s:.1f} s, events {events_s:.1f} s); "
        f"the import is {import_rate / rate:.2f}x the floor (goal 0.7x); "
        f"the goal of {goal:,} rows/s is {'below' if rate >= goal else 'ABOVE'} it"
    )


def _per_row(seconds: float, rows: int) -> str:
    return f"{seconds:.1f} s ({seconds / rows * 1e6:.0f} us a row)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/scrm_bench")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/scrm-bench"))
    parser.add_argument("--no-key", action="store_true", help="import without SCRM_DATA_KEY")
    parser.add_argument("--child", nargs=3, metavar=("URL", "PATH", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), bytes.fromhex(args.child[2]))
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    today = date.today()
    path = args.workdir / f"ExportOrderList_{args.rows}_{today.isoformat()}.csv"
    if not path.exists():
        print(f"generating {args.rows:,} rows -> {path}", flush=True)
        generate(path, args.rows, today)
    print(f"load average (1, 5, 15 min) at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    data_key = b"" if args.no_key else os.urandom(32)
    print(f"data key: {'none' if args.no_key else 'set (cells sealed, hints masked)'}", flush=True)
    size_mb = path.stat().st_size / 1e6
    floor = baseline(path)
    print(f"file: {size_mb:,.0f} MB; bare csv.reader: {floor:.2f} s = {args.rows / floor:,.0f} rows/s", flush=True)
    targets = []
    if args.backend in ("sqlite", "both"):
        sqlite_file = args.workdir / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
        targets.append(("SQLite", f"sqlite+aiosqlite:///{sqlite_file}", 40_000))
    if args.backend in ("postgres", "both"):
        targets.append(("PostgreSQL", args.pg_url, 25_000))
    for name, url, goal in targets:
        done = subprocess.run(
            [sys.executable, __file__, "--child", url, str(path), data_key.hex()],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        rate = args.rows / float(result["seconds"])
        print(
            f"{name}: {result['seconds']:.1f} s = {rate:,.0f} rows/s (goal {goal:,}: "
            f"{'met' if rate >= goal else 'MISSED'}); {float(result['seconds']) / floor:.1f}x the bare csv.reader "
            f"time; peak {result['peak_mb']:.0f} MB (reader process {result['reader_peak_mb']:.0f} MB); "
            f"CPU {_per_row(result['cpu_s'], args.rows)} importer + {_per_row(result['reader_cpu_s'], args.rows)} "
            "reader; "
            f"orders {result['orders_created']:,}, profiles {result['profiles_created']:,}, "
            f"events {result['events']:,}, "
            f"hints {sum(result['hints_by_kind'].values()):,}, rejected {result['rejected']:,}",
            flush=True,
        )
        print(_floor_line(name, args.rows, goal, result["floor"], rate), flush=True)
        print(f"load average (1, 5, 15 min) after {name}: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
