"""Events handled as one batch see what earlier events of the same batch did: a run started by a follow
reaches its goal on a later purchase, a second purchase does not enrol twice, an unfollow ends the run a
purchase started, and an order is credited once to the latest push sent before it, each as if the events
had been handled one by one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from content.model import JourneyDefinition
from journeys.enrolment import Enrolment
from journeys.policy import DispatchPolicy
from publishing.publish import save_journey
from storage.db import Database
from storage.models.core import DomainEvent, Follower, Profile
from storage.models.pushes import JourneyRun, Push, PushAttribution
from tests.journeys.helpers import add_follower, add_push, add_template

WELCOME: dict[str, Any] = {
    "name": "welcome", "trigger": {"kind": "followed"}, "goal": {"kind": "purchase"},
    "steps": [{"type": "wait", "id": "later", "duration": "1d"}, {"type": "send", "id": "hi", "template": "hi"}],
}  # fmt: skip
LOYALTY: dict[str, Any] = {
    "name": "loyalty", "trigger": {"kind": "first_purchase"}, "reentry": {"policy": "never"},
    "steps": [{"type": "send", "id": "thanks", "template": "thanks"},
              {"type": "wait", "id": "week", "duration": "7d"},
              {"type": "send", "id": "more", "template": "more"}],
}  # fmt: skip


async def _buyer(db: Database, clock: FakeClock, openid: str, phone: str) -> tuple[int, int]:
    fid = await add_follower(db, clock, openid)
    async with db.transaction() as session:
        profile = Profile(phone_key=phone, phone_sealed=phone, created_at=clock.now(), updated_at=clock.now())
        session.add(profile)
        await session.flush()
        follower = await session.get(Follower, fid)
        assert follower is not None and profile.id is not None
        follower.profile_id = profile.id
        session.add(follower)
        return fid, profile.id


def _purchase(kind: str, profile_id: int, order_no: str, clock: FakeClock) -> DomainEvent:
    return DomainEvent(kind=kind, occurred_at=clock.now(), profile_id=profile_id,
                       payload={"order_no": order_no, "platform": "tmall", "amount_fen": 100},
                       dedup_key=f"order:{order_no}")  # fmt: skip


@pytest.mark.storage
async def test_one_batch_sees_what_its_earlier_events_did(db: Database, clock: FakeClock, settings: Settings) -> None:
    for name in ("hi", "thanks", "more"):
        await add_template(db, clock, name)
    async with db.transaction() as session:
        for doc in (WELCOME, LOYALTY):
            await save_journey(session, JourneyDefinition.from_doc(doc), now=clock.now())
    mei, mei_profile = await _buyer(db, clock, "o-mei", "+8613800138001")
    lei, lei_profile = await _buyer(db, clock, "o-lei", "+8613800138002")
    sent = (1, "text", "marketing")
    story = await add_push(db, clock, lei, sent, status="sent", sent_at=clock.now() - timedelta(days=2),
                           profile_id=lei_profile)  # fmt: skip
    latest = await add_push(db, clock, lei, sent, status="sent", sent_at=clock.now() - timedelta(hours=1),
                            profile_id=lei_profile)  # fmt: skip
    async with db.transaction() as session:
        session.add(DomainEvent(kind="followed", occurred_at=clock.now(), follower_id=mei, payload={}))
        session.add(_purchase("first_purchase", mei_profile, "M1", clock))
        session.add(_purchase("repeat_purchase", mei_profile, "M2", clock))
        session.add(_purchase("first_purchase", mei_profile, "M3", clock))  # a second "first" after a re-import
        session.add(_purchase("first_purchase", lei_profile, "L1", clock))
        session.add(DomainEvent(kind="unfollowed", occurred_at=clock.now(), follower_id=lei, payload={}))

    report = await Enrolment(db, clock, DispatchPolicy.from_settings(settings)).process_events(50)

    assert (report.events, report.enrolled, report.goals_reached, report.exited, report.attributed) == (6, 3, 1, 1, 1)
    async with db.session() as session:
        runs = sorted((await session.exec(select(JourneyRun))).all(), key=lambda r: r.id or 0)
        credits = list((await session.exec(select(PushAttribution))).all())
        thanks = list((await session.exec(select(Push).where(Push.step_key == "thanks"))).all())
    assert [(r.journey_name, r.follower_id, r.state) for r in runs] == [
        ("welcome", mei, "goal_reached"),
        ("loyalty", mei, "active"),
        ("loyalty", lei, "exited"),
    ]
    assert sorted((p.follower_id, p.status) for p in thanks) == [(mei, "pending"), (lei, "cancelled")]
    assert [(c.order_no, c.push_id) for c in credits] == [("L1", latest)] and story != latest
