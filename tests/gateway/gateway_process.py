"""A gateway process for the multi-process tests: `python -m tests.gateway.gateway_process URL PORT`.

It serves the real gateway app on its own Database engine; its text handler records each run in the
audit log and takes a moment, so two processes given the same message overlap for real.
"""

from __future__ import annotations

import asyncio
import os
import sys

from aiohttp import web

from gateway.app import build_gateway_app
from gateway.events import TextMessage
from gateway.replies import Reply, TextReply
from handlers.context import HandlerContext, Services
from handlers.middlewares import DEFAULT_MIDDLEWARES
from handlers.router import Dispatcher, Router
from scrm.clock import SystemClock
from scrm.settings import Settings
from storage.db import Database
from storage.models.core import AuditEntry

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


def main() -> None:
    url, port = sys.argv[1], int(sys.argv[2])
    settings = Settings(database_url=url, wechat_appid=APPID, wechat_token=TOKEN, wechat_aes_key=AES_KEY)
    services = Services(db=Database(url), settings=settings, clock=SystemClock())
    app = build_gateway_app(services, Dispatcher(router, DEFAULT_MIDDLEWARES))

    async def close_db(_app: web.Application) -> None:
        await services.db.dispose()

    app.on_cleanup.append(close_db)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
