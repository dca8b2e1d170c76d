"""PushDispatcher throughput against the fake WeChat API on loopback, and memory with a large outbox.

    python bench/dispatch.py                      # 100 000 pushes: SQLite (1 dispatcher), PostgreSQL (2)
    python bench/dispatch.py --pushes 20000 --skip-memory
    python bench/dispatch.py --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

The fake API runs in its own process (`python -m sandbox.fake_wechat`). Its ceiling is a bare client
loop (the same WeChatAPI client and concurrency, no database), run in as many processes as the
dispatcher run it is compared with, in the same run, so the ratio shows what the outbox itself costs.
Each process times its own work (after imports and the token fetch); a run's rate is everything sent
divided by the span from the first process's start to the last one's end. CPU per push is reported for
the dispatcher processes and the fake. Memory: the peak RSS of a dispatcher process draining the same
number of due pushes from an outbox of that size, then of 1 000 000 rows (the rest not yet due): batch
claiming keeps it flat. The machine's load average is printed: other work on the cores shows up here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

from base.clock import SystemClock  # noqa: E402
from base.settings import Settings  # noqa: E402
from journeys.adapters import ContentRenderer, WeChatSender  # noqa: E402
from journeys.dispatcher import DispatcherConfig, PushDispatcher  # noqa: E402
from journeys.policy import DispatchPolicy  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.pushes import FOLLOWERS, PUSHES  # noqa: E402
from wechat.api.client import WeChatAPI  # noqa: E402

APPID = "wx1234567890abcdef"
BODY = {"kind": "text", "purpose": "service", "content": "{{ profile.name }}，您的积分已到账"}


def settings_for(db_url: str, api_base: str) -> Settings:
    return Settings(database_url=db_url, wechat_appid=APPID, wechat_appsecret="secret", wechat_api_base=api_base)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of another process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def start_fake() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.fake_wechat", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


async def prepare(db_url: str, due: int, total: int) -> None:
    """A fresh schema with `due` pushes due now and `total - due` due in a year, one follower each."""
    db = Database(db_url)
    import storage.models  # noqa: F401

    async with db.engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.drop_all)
        await conn.run_sync(SQLModel.metadata.create_all)
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO templates (id, name, kind, purpose, description, current_version_id, created_at, "
                "updated_at, updated_by) VALUES (1, 'points', 'text', 'service', '', 1, :now, :now, '')"
            ),
            {"now": now if db.is_postgres else now.replace(tzinfo=None)},
        )
        await conn.execute(
            text(
                "INSERT INTO template_versions (id, template_id, version, body, content_hash, state, created_at, "
                "created_by) VALUES (1, 1, 1, :body, 'x', 'published', :now, '')"
            ),
            {"body": json.dumps(BODY), "now": now if db.is_postgres else now.replace(tzinfo=None)},
        )
    chunk = 20_000
    for start in range(0, total, chunk):
        ids = range(start + 1, min(total, start + chunk) + 1)
        async with db.engine.begin() as conn:
            await conn.execute(
                insert(FOLLOWERS),
                [{"id": i, "appid": APPID, "openid": f"o-{i}", "status": "subscribed", "tags": [],
                  "last_message_at": now - timedelta(minutes=5), "created_at": now, "updated_at": now} for i in ids],
            )  # fmt: skip
            await conn.execute(
                insert(PUSHES),
                # Each push is the first step of a journey run of its own, as every push the product makes
                # belongs to a run. A claim looks up earlier open steps by run. With no run on any push (which
                # the product never makes), the ANALYZE below led SQLite to scan every earlier push instead,
                # once per candidate.
                [{"follower_id": i, "appid": APPID, "openid": f"o-{i}", "template_version_id": 1, "run_id": i,
                  "template_kind": "text", "purpose": "service", "context": {}, "status": "pending", "attempts": 0,
                  "step_index": 0, "due_at": now if i <= due else now + timedelta(days=365), "created_at": now}
                 for i in ids],
            )  # fmt: skip
    async with db.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    await db.dispose()


async def worker(db_url: str, api_base: str, rate: float, concurrency: int) -> dict[str, Any]:
    """One dispatcher process: drain everything due, report what it sent, its time, CPU and peak memory."""
    settings = settings_for(db_url, api_base)
    db = Database(db_url)
    clock = SystemClock()
    async with WeChatAPI(settings, db, clock) as api:
        await api.tokens.get_token(APPID)
        config = DispatcherConfig(concurrency=concurrency, rate_per_second=rate)
        dispatcher = PushDispatcher(
            db, WeChatSender(api), ContentRenderer(db, clock), clock, DispatchPolicy.from_settings(settings), config
        )
        cpu, started = cpu_seconds(), time.time()
        report = await dispatcher.drain()
        ended, cpu = time.time(), cpu_seconds() - cpu
    await db.dispose()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"sent": report.sent, "claimed": report.claimed, "started": started, "ended": ended, "cpu": cpu,
            "peak_rss_mib": rss_mib}  # fmt: skip


async def ceiling_worker(api_base: str, sends: int, concurrency: int) -> dict[str, Any]:
    """A bare client loop (no outbox) against the fake: the same client, payload size and concurrency."""
    db = Database(f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/token.db")
    await db.create_all()
    semaphore = asyncio.Semaphore(concurrency)
    async with WeChatAPI(settings_for(db.url, api_base), db, SystemClock()) as api:
        await api.tokens.get_token(APPID)

        async def one(i: int) -> None:
            async with semaphore:
                await api.send_custom_message(
                    APPID, {"touser": f"o-{i}", "msgtype": "text", "text": {"content": "朋友，您的积分已到账"}}
                )

        cpu, started = cpu_seconds(), time.time()
        await asyncio.gather(*(one(i) for i in range(sends)))
        ended, cpu = time.time(), cpu_seconds() - cpu
    await db.dispose()
    return {"sent": sends, "started": started, "ended": ended, "cpu": cpu}


def run_processes(args_per_process: list[list[str]]) -> list[dict[str, Any]]:
    procs = [
        subprocess.Popen([sys.executable, __file__, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for args in args_per_process
    ]
    results = []
    for proc in procs:
        output = proc.communicate()[0].strip().splitlines()
        if proc.returncode != 0 or not output:
            raise SystemExit(f"a benchmark process failed (exit {proc.returncode})")
        results.append(json.loads(output[-1]))
    return results


def summarise(results: list[dict[str, Any]]) -> tuple[int, float, float]:
    """(sent, seconds from the first start to the last end, CPU seconds of all processes)."""
    sent = sum(int(r["sent"]) for r in results)
    span = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return sent, span, sum(r["cpu"] for r in results)


def measured(fake_pid: int, args_per_process: list[list[str]]) -> tuple[int, float, str]:
    """Run processes; return (sent, rate, a note on CPU per push of them and of the fake)."""
    fake_cpu = process_cpu_seconds(fake_pid)
    sent, span, cpu = summarise(run_processes(args_per_process))
    fake_after = process_cpu_seconds(fake_pid)
    per_push = f"CPU/push: {cpu / max(sent, 1) * 1e6:,.0f} us"
    if fake_cpu is not None and fake_after is not None:
        per_push += f", fake {(fake_after - fake_cpu) / max(sent, 1) * 1e6:,.0f} us"
    return sent, sent / span, per_push


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushes", type=int, default=100_000)
    parser.add_argument("--pg-url", default=os.environ.get("SCRM_BENCH_PG_URL", ""))
    parser.add_argument("--rate", type=float, default=DispatcherConfig().rate_per_second, help="per process")
    parser.add_argument("--concurrency", type=int, default=DispatcherConfig().concurrency, help="per process")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--worker", nargs=2, metavar=("DB_URL", "API_BASE"), help=argparse.SUPPRESS)
    parser.add_argument("--ceiling-worker", nargs=2, metavar=("API_BASE", "SENDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(worker(args.worker[0], args.worker[1], args.rate, args.concurrency))))
        return 0
    if args.ceiling_worker:
        base, sends = args.ceiling_worker[0], int(args.ceiling_worker[1])
        print(json.dumps(asyncio.run(ceiling_worker(base, sends, args.concurrency))))
        return 0
    print(f"load average at start: {load_average()} ({os.cpu_count()} cores)")
    fake, api_base = start_fake()
    tuning = ["--rate", str(args.rate), "--concurrency", str(args.concurrency)]
    try:
        tmp = tempfile.mkdtemp()
        runs = [("SQLite, 1 dispatcher", f"sqlite+aiosqlite:///{tmp}/bench.db", 1)]
        if args.pg_url:
            runs.append(("PostgreSQL, 2 dispatchers", args.pg_url, 2))
        for label, url, workers in runs:
            ceiling_sends = min(args.pushes, 40_000) // workers
            ceiling_args = ["--ceiling-worker", api_base, str(ceiling_sends), *tuning]
            _, bare, bare_cpu = measured(fake.pid, [ceiling_args] * workers)
            print(f"fake API ceiling ({workers} bare client process(es), concurrency {args.concurrency} each): "
                  f"{bare:,.0f} sends/s ({bare_cpu})")  # fmt: skip
            asyncio.run(prepare(url, args.pushes, args.pushes))
            sent, rate, cpu = measured(fake.pid, [["--worker", url, api_base, *tuning]] * workers)
            print(f"{label}: {sent:,} pushes = {rate:,.0f} pushes/s ({rate / bare:.0%} of the ceiling; {cpu})")
        if not args.skip_memory:
            url = f"sqlite+aiosqlite:///{tmp}/memory.db"
            due = min(args.pushes, 20_000)
            for total in (due, args.memory_rows):
                asyncio.run(prepare(url, due, total))
                results = run_processes([["--worker", url, api_base, *tuning]])
                print(f"memory: {total:,} pending pushes, {results[0]['sent']:,} due: "
                      f"peak RSS {results[0]['peak_rss_mib']:.0f} MiB")  # fmt: skip
    finally:
        fake.terminate()
        fake.wait()
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
