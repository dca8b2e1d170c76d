"""`drain()` overlaps batches (claim and record beside sending); at most `in_flight` pushes are "sending"."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from base.clock import FakeClock
from base.settings import Settings
from journeys.adapters import ContentRenderer
from journeys.dispatcher import DispatcherConfig, PushDispatcher
from journeys.policy import DispatchPolicy
from storage.db import Database
from storage.pushes import PUSHES, count_by_status
from tests.journeys.helpers import add_template, bulk_pushes

SERVICE_TEXT = {"kind": "text", "purpose": "service", "content": "积分已到账"}


class ObservingSender:
    """Records every send, and how many pushes were "sending" in the database at that moment."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sent: Counter[str] = Counter()
        self.most_sending = 0

    async def send_custom(self, appid: str, payload: dict[str, Any]) -> None:
        async with self.db.engine.connect() as conn:
            sending = (await conn.execute(select(func.count()).where(PUSHES.c.status == "sending"))).scalar_one()
        self.most_sending = max(self.most_sending, int(sending))
        await asyncio.sleep(0)
        self.sent[str(payload["touser"])] += 1

    async def send_template(self, appid: str, payload: dict[str, Any]) -> str:
        raise AssertionError("only customer-service messages are due in this test")

    async def mass_send(self, appid: str, payload: dict[str, Any]) -> str:
        raise AssertionError("no mass send in this test")


async def test_drain_sends_everything_once_with_at_most_in_flight_pushes_sending(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    version = await add_template(db, clock, "points", SERVICE_TEXT)
    openids = await bulk_pushes(db, 230, clock.now(), version, "o-pipe")
    sender = ObservingSender(db)
    config = DispatcherConfig(batch_size=50, concurrency=8, in_flight=12, flush_group=3)
    dispatcher = PushDispatcher(
        db, sender, ContentRenderer(db, clock), clock, DispatchPolicy.from_settings(settings), config
    )

    report = await dispatcher.drain()

    assert report.sent == report.claimed == 230
    assert set(sender.sent) == set(openids) and max(sender.sent.values()) == 1
    # Five batches went through, yet a crash at any moment would have left at most `in_flight` unknown.
    assert 0 < sender.most_sending <= config.in_flight
    async with db.engine.connect() as conn:
        assert await count_by_status(conn) == {"sent": 230}
