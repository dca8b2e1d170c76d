"""Callback throughput and latency: the SCRM gateway vs a bare aiohttp app vs WeRoBot, in one run.

    python bench/callbacks.py                      # all three targets, plaintext + safe, 8 and 64 connections
    python bench/callbacks.py --requests 5000      # more requests per cell
    python bench/callbacks.py --serve --port 8080  # just run the gateway standalone (SQLite, fixed secrets)

Each target runs alone in its own process (one at a time, so they do not share the CPU with each other);
the load generator is a minimal HTTP/1.1 client in this process (`_Connection`, the same for every
target) with a fixed number of keep-alive connections, each sending its next request when the last answer
is in. Every request is a distinct text message (new MsgId) from one of 500 followers, so the gateway
claims and persists each one (inbound ledger + follower interaction, committed before the reply) - no
dedup shortcut. `--workers N` serves the gateway from N processes, as `scrm serve --workers N` does.
WeRoBot needs `pip install werobot`; it runs with `robot.run()`'s default server, as its docs deploy it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "benchtoken"  # noqa: S105 - a fixed benchmark secret, not a credential
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx1234567890abcdef"
FOLLOWERS = 500
REPLY_TEXT = "您可以回复以下关键词：「绑定」「退订」「帮助」"


def serve_gateway(port: int, database: str, workers: int = 1) -> None:
    """Run the real gateway app (default router and middlewares) on SQLite with the bench secrets.

    With `workers` > 1 it is served as `scrm serve --workers N` serves it: forked processes sharing the port.
    """
    from aiohttp import web

    from gateway.app import build_gateway_app
    from handlers.context import Services
    from handlers.default_router import build_default_dispatcher
    from scrm.clock import SystemClock
    from scrm.settings import Settings
    from scrm.workers import bind_sockets, child_loop, freeze_startup_heap, serve_workers
    from storage.db import Database

    logging.basicConfig(level=logging.WARNING)
    url = f"sqlite+aiosqlite:///{database}"
    settings = Settings(database_url=url, wechat_appid=APPID, wechat_token=TOKEN, wechat_aes_key=AES_KEY)
    asyncio.run(_create_tables(url))

    def build_app() -> web.Application:
        # A fresh engine in the serving process (after the fork when there are several).
        services = Services(db=Database(url), settings=settings, clock=SystemClock())
        return build_gateway_app(services, build_default_dispatcher())

    if workers == 1:
        app = build_app()
        freeze_startup_heap()
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
        return

    def run_child(sock: socket.socket) -> None:
        app = build_app()
        freeze_startup_heap()
        web.run_app(app, sock=sock, loop=child_loop(), handle_signals=False, print=None, access_log=None)

    sys.exit(serve_workers(run_child, bind_sockets("127.0.0.1", port, workers)))


async def _create_tables(url: str) -> None:
    from storage.db import Database

    db = Database(url)
    await db.create_all()
    await db.dispose()


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


def _start(target: str, port: int, workdir: str, workers: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve-target", target, "--port", str(port)]
    command += ["--db", os.path.join(workdir, f"{target}.db"), "--workers", str(workers)]
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


def _requests(mode: str, count: int, run_id: str, port: int) -> list[bytes]:
    """Every request as the bytes sent on the wire, built before the clock starts (like WeChat, text/xml)."""
    from tests.support.wechat import TestAccount, plaintext_callback, safe_callback, text_xml

    account = TestAccount(appid=APPID, token=TOKEN, aes_key=AES_KEY)
    build = safe_callback if mode == "safe" else plaintext_callback
    now = int(time.time())
    prepared = []
    for number in range(count):
        xml = text_xml(f"o-bench-{number % FOLLOWERS}", "你好", msg_id=f"{run_id}{number}", create_time=now)
        callback = build(account, xml, timestamp=now, nonce=f"n{number}")
        head = (
            f"POST /wechat?{urlencode(callback.params)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(callback.body)}\r\n\r\n"
        )
        prepared.append(head.encode("ascii") + callback.body)
    return prepared


# How a request fails when the server refuses, drops or garbles a connection, or does not answer in time.
FAILURES = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError)


class _Connection:
    """One keep-alive HTTP/1.1 connection sending prepared requests and reading each whole answer.

    A minimal client on purpose: every target gets the same one, and it costs a fraction of a general
    HTTP client's CPU, which on a shared 2-core machine would otherwise be taken from the server measured.
    """

    def __init__(self, port: int) -> None:
        self._port = port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send `request`, return (status, body); reconnects when the server closed the connection."""
        if self._streams is None:
            self._streams = await asyncio.open_connection("127.0.0.1", self._port)
        reader, writer = self._streams
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status, length, chunked, close = _parse_head(head)
            if chunked:
                body = await _read_chunked(reader)
            elif length is not None:
                body = await reader.readexactly(length)
            else:
                body, close = await reader.read(), True
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


def _parse_head(head: bytes) -> tuple[int, int | None, bool, bool]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, close = None, False, lines[0].startswith(b"HTTP/1.0")
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            close = value == b"close"
    return status, length, chunked, close


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _load(port: int, prepared: list[bytes], connections: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    pool = [_Connection(port) for _ in range(connections)]

    async def worker(connection: _Connection, requests: Iterator[bytes]) -> None:
        nonlocal errors
        for request in requests:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(60):
                    status, body = await connection.exchange(request)
                if status != 200 or not body:
                    errors += 1
            except FAILURES:
                # A server that cannot keep up refuses or drops connections: count it, keep the clock running.
                errors += 1
            latencies.append(time.perf_counter() - started)

    async def warm_up(connection: _Connection, request: bytes) -> None:
        # A server that refuses some of many simultaneous connections (WeRoBot's) is measured, not stopped.
        with contextlib.suppress(*FAILURES):
            await connection.exchange(request)

    # Warm up every connection (two requests each) and the server's caches, then time the rest.
    warm = prepared[: connections * 2]
    await asyncio.gather(*(warm_up(connection, request) for connection, request in zip(pool, warm[::2], strict=True)))
    await asyncio.gather(*(warm_up(connection, request) for connection, request in zip(pool, warm[1::2], strict=True)))
    cursor = iter(prepared[len(warm) :])
    started = time.perf_counter()
    await asyncio.gather(*(worker(connection, cursor) for connection in pool))
    elapsed = time.perf_counter() - started
    for connection in pool:
        connection.close()
    latencies.sort()
    return {
        # Only answered requests count towards throughput.
        "rps": (len(latencies) - errors) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
    }


def run_benchmark(requests: int, targets: list[str], workers: int) -> None:
    """Every target x mode x connection count, printed as one table (`workers`: gateway processes)."""
    results: dict[tuple[str, str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for target in targets:
            for mode in ("plaintext", "safe"):
                for connections in (8, 64):
                    port = _free_port()
                    process = _start(target, port, workdir, workers if target == "gateway" else 1)
                    try:
                        prepared = _requests(mode, requests + connections * 2, f"{target}{mode}{connections}-", port)
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
    parser.add_argument("--workers", type=int, default=1, help="gateway serving processes (default 1)")
    parser.add_argument("--db", default=os.path.join(tempfile.gettempdir(), "scrm-bench.db"))
    args = parser.parse_args()
    if args.serve or args.serve_target == "gateway":
        serve_gateway(args.port, args.db, args.workers)
    elif args.serve_target == "bare":
        serve_bare(args.port)
    elif args.serve_target == "werobot":
        serve_werobot(args.port)
    else:
        print(f"gateway workers={args.workers}; bare and werobot: one process each", flush=True)
        run_benchmark(args.requests, [t.strip() for t in args.targets.split(",") if t.strip()], args.workers)


if __name__ == "__main__":
    main()
