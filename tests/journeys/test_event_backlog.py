"""A backlog of domain events an import left: events about buyers no follower was ever linked to are
passed over in bulk, and runs already due move on every tick however long the backlog is."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from content.model import JourneyDefinition
from handlers.context import Services
from journeys import jobs
from journeys.enrolment import Enrolment
from journeys.policy import DispatchPolicy
from journeys.runtime import build_runtime
from publishing.publish import save_journey
from storage.db import Database
from storage.models.core import DomainEvent, Follower, Profile
from storage.models.pushes import JourneyRun
from tests.journeys.helpers import add_follower, add_template

THANKS: dict[str, Any] = {
    "name": "thanks", "trigger": {"kind": "first_purchase"},
    "steps": [{"type": "send", "id": "thanks", "template": "thanks"}],
}  # fmt: skip


async def _profile(db: Database, clock: FakeClock, phone: str, follower_id: int | None = None) -> int:
    async with db.transaction() as session:
        profile = Profile(phone_key=phone, phone_sealed=phone, created_at=clock.now(), updated_at=clock.now())
        session.add(profile)
        await session.flush()
        assert profile.id is not None
        if follower_id is not None:
            follower = await session.get(Follower, follower_id)
            assert follower is not None
            follower.profile_id = profile.id
            session.add(follower)
        return profile.id


async def _purchase(db: Database, clock: FakeClock, profile_id: int, order_no: str) -> None:
    async with db.transaction() as session:
        session.add(DomainEvent(kind="first_purchase", occurred_at=clock.now() - timedelta(hours=1),
                                profile_id=profile_id, payload={"order_no": order_no, "amount_fen": 100},
                                dedup_key=f"order:{order_no}"))  # fmt: skip


@pytest.mark.storage
async def test_events_about_profiles_nobody_follows_are_passed_over_and_the_rest_handled(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    await add_template(db, clock, "thanks")
    async with db.transaction() as session:
        await save_journey(session, JourneyDefinition.from_doc(THANKS), now=clock.now())
    fid = await add_follower(db, clock, "o-buyer")
    followed = await _profile(db, clock, "+8613800138001", follower_id=fid)
    for number in range(5):
        await _purchase(db, clock, await _profile(db, clock, f"+861380013810{number}"), f"A{number}")
    await _purchase(db, clock, followed, "B1")
    report = await Enrolment(db, clock, DispatchPolicy.from_settings(settings)).process_events(50)
    assert (report.events, report.passed_over, report.enrolled) == (6, 5, 1)
    assert await Enrolment(db, clock, DispatchPolicy.from_settings(settings)).process_events(50) == type(report)()


async def test_due_runs_move_on_every_tick_behind_any_backlog(
    db: Database, clock: FakeClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "SLICE_SECONDS", 0.0)  # a tick with no time to spare at all
    monkeypatch.setattr(jobs, "EVENTS_PER_TRANSACTION", 2)
    await add_template(db, clock, "thanks")
    async with db.transaction() as session:
        await save_journey(session, JourneyDefinition.from_doc(THANKS), now=clock.now())
    fid = await add_follower(db, clock, "o-waiting")
    async with db.transaction() as session:
        session.add(JourneyRun(journey_id=1, journey_name="thanks", follower_id=fid, step_id="thanks",
                               resume_at=clock.now() - timedelta(minutes=1), entered_at=clock.now()))  # fmt: skip
    for number in range(6):  # more events than one transaction takes
        await _purchase(db, clock, await _profile(db, clock, f"+861390013900{number}"), f"C{number}")
    runtime = build_runtime(Services(db=db, settings=settings, clock=clock))
    try:
        outcome = await jobs.process_domain_events(runtime)
    finally:
        await runtime.close()
    assert outcome["runs_advanced"] == 1
    assert outcome["events"] == 2  # the rest waits for the next tick


WELCOME: dict[str, Any] = {
    "name": "welcome", "trigger": {"kind": "followed"},
    "steps": [{"type": "send", "id": "hello", "template": "hello"}],
}  # fmt: skip


@pytest.mark.storage
async def test_a_follower_who_acts_during_an_import_backlog_is_served_first(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    await add_template(db, clock, "hello")
    async with db.transaction() as session:
        await save_journey(session, JourneyDefinition.from_doc(WELCOME), now=clock.now())
    for number in range(5):  # the import's backlog, written first
        await _purchase(db, clock, await _profile(db, clock, f"+861380013820{number}"), f"C{number}")
    fid = await add_follower(db, clock, "o-newcomer")
    async with db.transaction() as session:
        session.add(DomainEvent(kind="followed", occurred_at=clock.now(), follower_id=fid, payload={}))
    enrolment = Enrolment(db, clock, DispatchPolicy.from_settings(settings))

    first = await enrolment.process_events(2)

    assert (first.events, first.enrolled, first.passed_over) == (2, 1, 1)
    async with db.session() as session:
        runs = (await session.exec(select(JourneyRun).where(JourneyRun.follower_id == fid))).all()
    assert [run.journey_name for run in runs] == ["welcome"]
    rest = await enrolment.drain_events(2)
    assert (rest.events, rest.passed_over) == (4, 4)
