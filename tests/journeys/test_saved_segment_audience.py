"""A segment saved from the console's profile list is a journey's audience (`saved:<name>`)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from content.model import JourneyDefinition
from handlers.context import Services
from journeys import jobs
from journeys.runtime import build_runtime
from publishing.publish import save_journey
from storage.db import Database
from storage.models.core import Follower, Profile
from storage.models.pushes import JourneyRun
from storage.profile_list import ProfileFilter, save_segment
from tests.journeys.helpers import add_follower, add_template

pytestmark = pytest.mark.storage


async def _bind(db: Database, clock: FakeClock, follower_id: int, key: str, orders: int) -> None:
    async with db.transaction() as session:
        profile = Profile(
            phone_key=key, phone_sealed=key, order_count=orders, created_at=clock.now(), updated_at=clock.now()
        )
        session.add(profile)
        await session.flush()
        follower = await session.get(Follower, follower_id)
        assert follower is not None
        follower.profile_id = profile.id
        session.add(follower)


async def test_followers_in_a_saved_segment_enter_its_journey_once(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    await add_template(db, clock, "thanks")
    regular = await add_follower(db, clock, "o-regular")
    once = await add_follower(db, clock, "o-once")
    await add_follower(db, clock, "o-unbound")
    await _bind(db, clock, regular, "+8613800000001", orders=5)
    await _bind(db, clock, once, "+8613800000002", orders=1)
    doc = {"name": "regulars", "trigger": {"kind": "segment_entered", "segment": "saved:regulars"},
           "steps": [{"type": "send", "id": "thanks", "template": "thanks"}]}  # fmt: skip
    async with db.transaction() as session:
        await save_segment(session, "regulars", ProfileFilter(orders_min=3), by="test", now=clock.now())
        await save_journey(session, JourneyDefinition.from_doc(doc), now=clock.now())
    runtime = build_runtime(Services(db=db, settings=settings, clock=clock))
    try:
        assert await jobs.scan_segments(runtime) == 1
        assert (await jobs.process_domain_events(runtime))["enrolled"] == 1
        assert await jobs.scan_segments(runtime) == 0  # enrolled: not emitted again
    finally:
        await runtime.close()
    async with db.session() as session:
        runs = (await session.exec(select(JourneyRun))).all()
    assert [run.follower_id for run in runs] == [regular]


async def test_a_journey_on_a_deleted_saved_segment_enrols_nobody(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    await add_template(db, clock, "thanks")
    await add_follower(db, clock, "o-1")
    doc = {"name": "ghost", "trigger": {"kind": "segment_entered", "segment": "saved:nobody"},
           "steps": [{"type": "send", "id": "thanks", "template": "thanks"}]}  # fmt: skip
    async with db.transaction() as session:
        await save_journey(session, JourneyDefinition.from_doc(doc), now=clock.now())
    runtime = build_runtime(Services(db=db, settings=settings, clock=clock))
    try:
        assert await jobs.scan_segments(runtime) == 0
    finally:
        await runtime.close()
