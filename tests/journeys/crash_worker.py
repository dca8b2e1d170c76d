"""A dispatcher process for the kill -9 tests:
`python -m tests.journeys.crash_worker DB_URL API_BASE [BATCH_SIZE IN_FLIGHT CONCURRENCY]`.

It drains due pushes (small batches by default) until killed; the tests kill it mid-batch.
"""

from __future__ import annotations

import asyncio
import sys

from base.clock import SystemClock
from base.settings import Settings
from journeys.adapters import ContentRenderer, WeChatSender
from journeys.dispatcher import DispatcherConfig, PushDispatcher
from journeys.policy import DispatchPolicy
from storage.db import Database
from wechat.api.client import WeChatAPI


async def main(
    database_url: str, api_base: str, batch_size: int = 40, in_flight: int = 48, concurrency: int = 8
) -> None:
    settings = Settings(
        database_url=database_url, wechat_appid="wx1234567890abcdef", wechat_appsecret="secret",
        wechat_api_base=api_base,
    )  # fmt: skip
    db = Database(database_url)
    clock = SystemClock()
    async with WeChatAPI(settings, db, clock) as api:
        config = DispatcherConfig(batch_size=batch_size, concurrency=concurrency, in_flight=in_flight)
        dispatcher = PushDispatcher(
            db, WeChatSender(api), ContentRenderer(db, clock), clock, DispatchPolicy.from_settings(settings), config
        )
        print("ready", flush=True)
        while True:
            await dispatcher.drain()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], *(int(arg) for arg in sys.argv[3:6])))
