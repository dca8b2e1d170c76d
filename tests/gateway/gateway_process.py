"""A gateway process for the multi-process tests: `python -m tests.gateway.gateway_process URL PORT [WORKERS]`.

It serves the real gateway app on its own Database engine; its text handler records each run in the
audit log and takes a moment, so two processes given the same message overlap for real. With WORKERS it
is served as `scrm serve --workers` serves (forked processes sharing the port); `GET /pid` tells which
process answered.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

from aiohttp import web

from base.clock import SystemClock
from base.settings import Settings
from gateway.app import build_gateway_app
from handlers.context import HandlerContext, Services
from handlers.middlewares import DEFAULT_MIDDLEWARES
from handlers.router import Dispatcher, Router
from scrm.workers import bind_sockets, child_loop, serve_workers
from storage.db import Database
from storage.models.core import AuditEntry
from wechat.events import TextMessage
from wechat.replies import Reply, TextReply

TOKEN = "proctoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx1234567890abcdef"

router = Router("counted")


@router.on("text")
async def counted(event: TextMessage, ctx: HandlerContext) -> Reply | None:
    ctx.require_session().add(
        AuditEntry(at=ctx.clock.now(), actor=f"pid-{os.getpid()}", action="handled", target=event.message_id)
    )
    await asyncio.sleep(0.3)  # long enough for the other process's copy to arrive meanwhile
    return TextReply(f"handled by pid {os.getpid()}")


async def answer_pid(_request: web.Request) -> web.Response:
    return web.Response(text=str(os.getpid()))


def build_app(url: str) -> web.Application:
    settings = Settings(database_url=url, wechat_appid=APPID, wechat_token=TOKEN, wechat_aes_key=AES_KEY)
    services = Services(db=Database(url), settings=settings, clock=SystemClock())
    app = build_gateway_app(services, Dispatcher(router, DEFAULT_MIDDLEWARES))
    app.router.add_get("/pid", answer_pid)

    async def close_db(_app: web.Application) -> None:
        await services.db.dispose()

    app.on_cleanup.append(close_db)
    return app


def main() -> None:
    url, port = sys.argv[1], int(sys.argv[2])
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if workers == 1:
        web.run_app(build_app(url), host="127.0.0.1", port=port, print=None, access_log=None)
        return

    def run_child(sock: socket.socket) -> None:
        loop = child_loop()
        web.run_app(build_app(url), sock=sock, loop=loop, handle_signals=False, print=None, access_log=None)

    sys.exit(serve_workers(run_child, bind_sockets("127.0.0.1", port, workers)))


if __name__ == "__main__":
    main()
