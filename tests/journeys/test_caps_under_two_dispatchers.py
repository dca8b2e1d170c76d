"""Frequency caps hold when two dispatchers (separate engines, as two processes) decide for one follower.

Issue 18 item 6: each dispatcher read the follower's sends before the other had marked its own, and both
sent, overshooting the cap by one.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from base.clock import FakeClock
from base.settings import Settings
from journeys.adapters import ContentRenderer, WeChatSender
from journeys.dispatcher import DispatcherConfig, PushDispatcher
from journeys.policy import DispatchPolicy
from journeys.ports import RenderFailed, RenderRequest
from storage.db import Database
from tests.journeys.helpers import Wired, add_follower, add_push, add_template, at_china, wired_dispatcher
from wechat.api.client import WeChatAPI

pytestmark = pytest.mark.concurrency


class RenderThenLetOtherGo(ContentRenderer):
    """Renders, but first lets another dispatcher run a whole drain: the two checks overlap."""

    def __init__(self, db: Database, clock: FakeClock) -> None:
        super().__init__(db, clock)
        self.other: PushDispatcher | None = None

    async def render_many(self, requests: Sequence[RenderRequest]) -> list[dict[str, Any] | RenderFailed]:
        other, self.other = self.other, None
        if other is not None:
            await other.drain()
        return await super().render_many(requests)


@asynccontextmanager
async def _second_dispatcher(
    db_url: str, clock: FakeClock, wired: Wired, config: DispatcherConfig
) -> AsyncIterator[PushDispatcher]:
    second_db = Database(db_url)
    try:
        async with WeChatAPI(wired.settings, second_db, clock) as api:
            yield PushDispatcher(
                second_db, WeChatSender(api), ContentRenderer(second_db, clock), clock,
                DispatchPolicy.from_settings(wired.settings), config,
            )  # fmt: skip
    finally:
        await second_db.dispose()


async def test_a_push_decided_while_another_dispatcher_sends_to_the_same_follower_keeps_the_cap(
    db: Database, db_url: str, clock: FakeClock, settings: Settings
) -> None:
    at_china(clock, 12, 0)
    settings = settings.with_overrides(cap_per_day=1)
    fid = await add_follower(db, clock, "o-capped")
    version = await add_template(db, clock, "sale")
    for offset in range(2):
        await add_push(db, clock, fid, version, due_in=timedelta(seconds=-10 + offset))
    config = DispatcherConfig(batch_size=1)
    async with wired_dispatcher(db, clock, settings, config) as wired:
        renderer = RenderThenLetOtherGo(db, clock)
        first = PushDispatcher(
            db, WeChatSender(wired.api), renderer, clock, DispatchPolicy.from_settings(wired.settings), config
        )
        async with _second_dispatcher(db_url, clock, wired, config) as second:
            # The first claims and checks one push; before it marks it, the second claims, checks and
            # sends the other. Then the first goes on.
            renderer.other = second
            report = await first.drain()
        received = wired.fake.sent_to("o-capped")
    assert len(received) == 1, "the daily cap of 1 was overshot"
    assert (report.sent, report.deferred) == (0, 1)


async def test_two_dispatchers_draining_together_never_overshoot_a_cap(
    db: Database, db_url: str, clock: FakeClock, settings: Settings
) -> None:
    at_china(clock, 12, 0)
    settings = settings.with_overrides(cap_per_day=2, cap_per_week=10)
    version = await add_template(db, clock, "sale")
    openids = [f"o-pair-{i}" for i in range(30)]
    for openid in openids:
        fid = await add_follower(db, clock, openid)
        for offset in range(4):
            await add_push(db, clock, fid, version, due_in=timedelta(seconds=-10 + offset))
    config = DispatcherConfig(batch_size=7, concurrency=4, in_flight=6, flush_group=2)
    async with wired_dispatcher(db, clock, settings, config) as wired:
        async with _second_dispatcher(db_url, clock, wired, config) as second:
            reports = await asyncio.gather(wired.dispatcher.drain(), second.drain())
        received = Counter(call.json["touser"] for call in wired.fake.calls_to("message/custom/send") if call.json)
    assert received == {openid: 2 for openid in openids}
    assert sum(report.sent for report in reports) == 60
