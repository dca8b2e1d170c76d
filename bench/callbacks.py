"""Callback throughput and latency: the SCRM gateway vs a bare aiohttp app vs WeRoBot, in one run.

    python bench/callbacks.py                      # all three targets, plaintext + safe, 8 and 64 connections
    python bench/callbacks.py --requests 5000      # more requests per cell
    python bench/callbacks.py --serve --port 8080  # just run the gateway standalone (SQLite, fixed secrets)

Each target runs alone in its own process (one at a time, so they do not share the CPU with each other);
the load generator is an aiohttp client in this process with a bounded number of connections. Every
request is a distinct text message (new MsgId) from one of 500 followers, so the gateway claims and
persists each one (inbound ledger + follower interaction, committed before the reply) - no dedup shortcut.
WeRoBot needs `pip install werobot`; it runs with `robot.run()`'s default server, as its docs deploy it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "benchtoken"  # noqa: S105 - a fixed benchmark secret, not a credential
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx1234567890abcdef"
FOLLOWERS = 500
REPLY_TEXT = "您可以回复以下关键词：「绑定」「退订」「帮助」"


def serve_gateway(port: int, database: str) -> None:
    """Run the real gateway app (default router and middlewares) on SQLite with the bench secrets."""
    from aiohttp import web

    from gateway.app import build_gateway_app
    from handlers.context import Services
    from handlers.default_router import build_default_dispatcher
    from scrm.clock import SystemClock
    from scrm.settings import Settings
    from storage.db import Database

    logging.basicConfig(level=logging.WARNING)
    url = f"sqlite+aiosqlite:///{database}"
    settings = Settings(database_url=url, wechat_appid=APPID, wechat_token=TOKEN, wechat_aes_key=AES_KEY)
    db = Database(url)
    asyncio.run(db.create_all())
    db = Database(url)  # a fresh engine for the serving loop
    services = Services(db=db, settings=settings, clock=SystemClock())
    app = build_gateway_app(services, build_default_dispatcher())
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def serve_bare(port: int) -> None:
    """The floor: an aiohttp app that reads the body and answers `success`."""
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="success")

    app = web.Application()
    app.router.add_route("*", "/wechat", answer)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def serve_werobot(port: int) -> None:
    """WeRoBot answering every text with the same help text, in safe mode when asked to."""
    import werobot

    robot = werobot.WeRoBot(token=TOKEN, encoding_aes_key=AES_KEY, app_id=APPID)
    robot.config["HOST"], robot.config["PORT"] = "127.0.0.1", port

    @robot.text  # type: ignore[untyped-decorator]
    def help_text(message: object) -> str:
        return REPLY_TEXT

    logging.getLogger("waitress").setLevel(logging.WARNING)
    robot.run(server="auto")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(target: str, port: int, workdir: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve-target", target, "--port", str(port)]
    command += ["--db", os.path.join(workdir, f"{target}.db")]
    # The server's log goes to a file: a pipe nobody reads fills up and stalls a server that logs each request.
    log_path = Path(workdir) / f"{target}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise RuntimeError(f"{target} exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{target} did not start")


def _requests(mode: str, count: int, run_id: str) -> list[tuple[dict[str, str], bytes]]:
    from tests.support.wechat import TestAccount, plaintext_callback, safe_callback, text_xml

    account = TestAccount(appid=APPID, token=TOKEN, aes_key=AES_KEY)
    build = safe_callback if mode == "safe" else plaintext_callback
    now = int(time.time())
    prepared = []
    for number in range(count):
        xml = text_xml(f"o-bench-{number % FOLLOWERS}", "你好", msg_id=f"{run_id}{number}", create_time=now)
        callback = build(account, xml, timestamp=now, nonce=f"n{number}")
        prepared.append((callback.params, callback.body))
    return prepared


async def _load(port: int, prepared: list[tuple[dict[str, str], bytes]], connections: int) -> dict[str, float]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    cursor = iter(prepared)
    url = f"http://127.0.0.1:{port}/wechat"

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        for params, body in cursor:
            started = time.perf_counter()
            try:
                async with http.post(url, params=params, data=body) as response:
                    text = await response.text()
                    if response.status != 200 or not text:
                        errors += 1
            except (aiohttp.ClientError, TimeoutError):
                # A server that cannot keep up refuses or drops connections: count it, keep the clock running.
                errors += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        # Warm up connections and caches, then time the rest.
        warm = prepared[: connections * 2]
        prepared_iter = iter(warm)
        for params, body in prepared_iter:
            async with http.post(url, params=params, data=body) as response:
                await response.read()
        cursor = iter(prepared[len(warm) :])
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        # Only answered requests count towards throughput.
        "rps": (len(latencies) - errors) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
    }


def run_benchmark(requests: int, targets: list[str]) -> None:
    """Every target x mode x connection count, printed as one table."""
    results: dict[tuple[str, str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for target in targets:
            for mode in ("plaintext", "safe"):
                for connections in (8, 64):
                    port = _free_port()
                    process = _start(target, port, workdir)
                    try:
                        prepared = _requests(mode, requests + connections * 2, f"{target}{mode}{connections}-")
                        results[(target, mode, connections)] = asyncio.run(_load(port, prepared, connections))
                    finally:
                        process.terminate()
                        process.wait(timeout=30)
                    cell = results[(target, mode, connections)]
                    print(
                        f"{target:9} {mode:9} conns={connections:<3} {cell['rps']:8.0f} req/s  "
                        f"p50={cell['p50']:6.1f} ms  p99={cell['p99']:6.1f} ms  errors={cell['errors']:.0f}",
                        flush=True,
                    )
    if "gateway" in targets and "werobot" in targets:
        print()
        for mode in ("plaintext", "safe"):
            for connections in (8, 64):
                ratio = results[("gateway", mode, connections)]["rps"] / results[("werobot", mode, connections)]["rps"]
                print(f"gateway / werobot  {mode:9} conns={connections:<3} {ratio:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per cell (default 3000)")
    parser.add_argument("--targets", default="gateway,bare,werobot", help="comma-separated: gateway,bare,werobot")
    parser.add_argument("--serve", action="store_true", help="only run the gateway standalone")
    parser.add_argument("--serve-target", choices=["gateway", "bare", "werobot"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--db", default=os.path.join(tempfile.gettempdir(), "scrm-bench.db"))
    args = parser.parse_args()
    if args.serve or args.serve_target == "gateway":
        serve_gateway(args.port, args.db)
    elif args.serve_target == "bare":
        serve_bare(args.port)
    elif args.serve_target == "werobot":
        serve_werobot(args.port)
    else:
        run_benchmark(args.requests, [t.strip() for t in args.targets.split(",") if t.strip()])


if __name__ == "__main__":
    main()
