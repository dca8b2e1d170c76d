"""The previous benchmark's target: the gateway routes alone (default router and middlewares), no console,
no scheduler, no content, no journey hooks. Kept as one more row to show what `scrm serve` adds.

    python -m bench.peers.gateway_alone --port 8084 --db /tmp/gateway.db --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys

from aiohttp import web

from bench.signed_requests import AES_KEY, APPID, TOKEN


def serve_gateway(port: int, database: str, workers: int) -> None:
    """The gateway app on SQLite with the bench secrets, in `workers` forked processes sharing the port."""
    from base.clock import SystemClock
    from base.settings import Settings
    from gateway.app import build_gateway_app
    from handlers.context import Services
    from handlers.default_router import build_default_dispatcher
    from scrm.workers import bind_sockets, child_loop, freeze_startup_heap, serve_workers
    from storage.db import Database

    logging.basicConfig(level=logging.WARNING)
    url = f"sqlite+aiosqlite:///{database}"
    settings = Settings(database_url=url, wechat_appid=APPID, wechat_token=TOKEN, wechat_aes_key=AES_KEY)
    asyncio.run(_create_tables(url))

    def build_app() -> web.Application:
        # A fresh engine in the serving process, after the fork.
        services = Services(db=Database(url), settings=settings, clock=SystemClock())
        return build_gateway_app(services, build_default_dispatcher())

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    serve_gateway(args.port, args.db, args.workers)


if __name__ == "__main__":
    main()
