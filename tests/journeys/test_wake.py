"""Wake on interaction: held pushes are looked for only when the delivery's claim found some waiting."""

from __future__ import annotations

from typing import Any

from base.clock import FakeClock
from base.settings import Settings
from handlers.context import HandlerContext, Services
from journeys.outcomes import BatchReport
from journeys.wake import make_interaction_hook
from storage.db import Database
from storage.followers import FollowerRecord
from storage.models.core import Account
from wechat.events import TextMessage


class RecordingDispatcher:
    def __init__(self) -> None:
        self.woken: list[int] = []

    async def deliver_for_follower(self, follower_id: int) -> BatchReport:
        self.woken.append(follower_id)
        return BatchReport()


async def _interact(db: Database, clock: FakeClock, settings: Settings, record: FollowerRecord) -> list[int]:
    dispatcher = RecordingDispatcher()
    hook = make_interaction_hook(dispatcher)  # type: ignore[arg-type]
    ctx = HandlerContext(Services(db=db, settings=settings, clock=clock), Account(appid="wxa", created_at=clock.now()))
    ctx.follower_record = record
    await hook(ctx, TextMessage("gh", "o1", 1, "text", {}, msg_id="1", content="hi"))
    return dispatcher.woken


async def test_only_a_follower_with_waiting_pushes_wakes_the_dispatcher(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    values: dict[str, Any] = {"id": 7, "appid": "wxa", "openid": "o1"}
    nothing = FollowerRecord(values, has_waiting_pushes=False, in_conversation=False)
    waiting = FollowerRecord(values, has_waiting_pushes=True, in_conversation=False)
    assert await _interact(db, clock, settings, nothing) == []
    assert await _interact(db, clock, settings, waiting) == [7]
