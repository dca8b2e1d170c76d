"""Two dispatchers (separate engines, as separate processes would have) share the outbox: no duplicate."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from base.clock import FakeClock
from base.settings import Settings
from journeys.adapters import ContentRenderer, WeChatSender
from journeys.dispatcher import DispatcherConfig, PushDispatcher
from journeys.policy import DispatchPolicy
from storage.db import Database
from storage.pushes import count_by_status
from tests.journeys.helpers import add_template, bulk_pushes, wired_dispatcher
from wechat.api.client import WeChatAPI

pytestmark = pytest.mark.concurrency
SERVICE_TEXT = {"kind": "text", "purpose": "service", "content": "积分已到账"}


async def test_two_dispatchers_never_send_the_same_push(
    db: Database, db_url: str, clock: FakeClock, settings: Settings
) -> None:
    count = 10_000 if db.is_postgres else 1_500
    version = await add_template(db, clock, "points", SERVICE_TEXT)
    openids = await bulk_pushes(db, count, clock.now(), version, "o-pair")
    second_db = Database(db_url)
    try:
        async with wired_dispatcher(db, clock, settings, DispatcherConfig(batch_size=200)) as wired:
            async with WeChatAPI(wired.settings, second_db, clock) as second_api:
                other = PushDispatcher(
                    second_db, WeChatSender(second_api), ContentRenderer(second_db, clock), clock,
                    DispatchPolicy.from_settings(wired.settings), DispatcherConfig(batch_size=200),
                )  # fmt: skip
                first_report, second_report = await asyncio.gather(wired.dispatcher.drain(), other.drain())
            received = Counter(call.json["touser"] for call in wired.fake.calls_to("message/custom/send") if call.json)
    finally:
        await second_db.dispose()
    assert set(received) == set(openids)
    assert max(received.values()) == 1
    assert first_report.sent + second_report.sent == count
    assert first_report.sent > 0 and second_report.sent > 0
    async with db.engine.connect() as conn:
        assert await count_by_status(conn) == {"sent": count}
