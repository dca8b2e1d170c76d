"""A dispatcher's claim is a lease in real time: on a demo clock 120 times faster, a send under way for
ten real seconds (twenty demo minutes) is not taken for a dead dispatcher's and closed as `unknown`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from base.clock import DemoClock, FakeClock
from base.settings import Settings
from storage.db import Database
from tests.journeys.helpers import add_follower, add_push, add_template, push_states, wired_dispatcher


class Wall:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 2, 0, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


async def test_a_send_under_way_is_not_declared_dead_by_demo_minutes(db: Database, settings: Settings) -> None:
    wall = Wall()
    demo = DemoClock(speed=120, real=wall)
    fake = FakeClock(demo.now())  # the helpers stamp rows with a FakeClock's reading
    version = await add_template(db, fake, "story")
    fid = await add_follower(db, fake, "o-slow")
    sending = await add_push(db, fake, fid, version, status="sending", claim_token="t", claimed_at=demo.now())
    async with wired_dispatcher(db, demo, settings) as wired:  # type: ignore[arg-type]
        wall.now += 10
        assert demo.now() - fake.now() == timedelta(minutes=20)
        counts = await wired.dispatcher.housekeeping()
        assert counts["unknown"] == 0
        assert (await push_states(db))[sending].status == "sending"
        wall.now += 301  # five real minutes with no outcome: that dispatcher is gone
        counts = await wired.dispatcher.housekeeping()
    assert counts["unknown"] == 1
    assert (await push_states(db))[sending].status == "unknown"
