"""Journeys react to clicks: a `clicked` branch resends another template to those who did not click,
a click can reach a journey's goal, and click events never pile up as waiting events."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from base.clock import FakeClock
from content.model import JourneyDefinition
from journeys.enrolment import Enrolment
from journeys.policy import DispatchPolicy
from publishing.publish import save_journey
from storage.db import Database
from storage.models.core import DomainEvent
from storage.models.pushes import JourneyRun
from tests.journeys.helpers import APPID, add_follower, add_template
from tests.links.conftest import PUBLIC, Linked

pytestmark = pytest.mark.storage

TARGET = "https://shop.example.cn/serum"
_LINK = re.compile(re.escape(PUBLIC) + r"/l/[A-Za-z0-9_-]+")
RESEND: dict[str, Any] = {
    "name": "resend_to_non_clickers",
    "trigger": {"kind": "followed"},
    "steps": [
        {"type": "send", "id": "offer", "template": "offer_a"},
        {
            "type": "branch",
            "id": "opened",
            "condition": {"kind": "clicked", "step": "offer", "hours": 24},
            "then": "done",
            "else": "again",
        },
        {"type": "send", "id": "again", "template": "offer_b"},
        {"type": "exit", "id": "done"},
    ],
}


async def _setup(
    linked: Linked, db: Database, clock: FakeClock, journey: dict[str, Any], openids: list[str]
) -> Enrolment:
    linked_settings = linked.settings
    await add_template(db, clock, "offer_a", {"kind": "text", "purpose": "marketing", "links": [TARGET],
                                              "content": f"新品：{TARGET}"})  # fmt: skip
    await add_template(db, clock, "offer_b", {"kind": "text", "purpose": "marketing", "content": "再看一眼新品？"})
    follower_ids = [await add_follower(db, clock, openid) for openid in openids]
    async with db.session() as session:
        await save_journey(session, JourneyDefinition.from_doc(journey), now=clock.now())
        for fid in follower_ids:
            session.add(DomainEvent(kind="followed", occurred_at=clock.now(), appid=APPID, follower_id=fid))
        await session.commit()
    return Enrolment(db, clock, DispatchPolicy.from_settings(linked_settings))


def _texts(linked: Linked, openid: str) -> list[str]:
    return [str(call.json["text"]["content"]) for call in linked.fake.sent_to(openid) if call.json]


async def _waiting_events(db: Database) -> int:
    async with db.session() as session:
        statement = select(func.count()).select_from(DomainEvent).where(col(DomainEvent.processed_at).is_(None))
        return int((await session.exec(statement)).one())


async def test_a_non_clicker_gets_template_b_once_the_window_closes_and_a_clicker_does_not(
    linked: Linked, db: Database, clock: FakeClock
) -> None:
    enrolment = await _setup(linked, db, clock, RESEND, ["o-clicker", "o-ignorer"])
    await enrolment.drain_events()
    await linked.dispatcher.drain()
    [link] = _LINK.findall(_texts(linked, "o-clicker")[0])
    assert len(_texts(linked, "o-ignorer")) == 1

    clock.advance(minutes=30)
    assert (await linked.click(link, as_openid="o-clicker")).status == 302
    report = await enrolment.drain_events()
    assert report.clicks_woke == 1 and report.enrolled == 0
    assert await enrolment.advance_due_runs() == 1  # the clicker's run, decided at the click

    # Not clicked yet, but the 24 hours are not over: "did not click" is not decided early.
    clock.advance(hours=23)
    await enrolment.advance_due_runs()
    await linked.dispatcher.drain()
    assert len(_texts(linked, "o-ignorer")) == 1

    clock.advance(hours=1)
    assert await enrolment.advance_due_runs() == 1
    await linked.dispatcher.drain()
    assert _texts(linked, "o-ignorer")[-1] == "再看一眼新品？"
    assert len(_texts(linked, "o-clicker")) == 1
    async with db.session() as session:
        runs = {r.follower_id: r for r in (await session.exec(select(JourneyRun))).all()}
    assert [(r.state, r.end_reason) for r in runs.values()] == [("completed", "exit step done")] * 2
    assert await _waiting_events(db) == 0


async def test_a_click_reaches_a_click_goal_and_cancels_what_was_planned(
    linked: Linked, db: Database, clock: FakeClock
) -> None:
    journey = {
        "name": "click_goal",
        "trigger": {"kind": "followed"},
        "goal": {"kind": "clicked", "step": "offer"},
        "steps": [
            {"type": "send", "id": "offer", "template": "offer_a"},
            {"type": "wait", "id": "later", "duration": "2d"},
            {"type": "send", "id": "again", "template": "offer_b"},
        ],
    }
    enrolment = await _setup(linked, db, clock, journey, ["o-reader"])
    await enrolment.drain_events()
    await linked.dispatcher.drain()
    [link] = _LINK.findall(_texts(linked, "o-reader")[0])
    await linked.click(link, as_openid="o-reader")
    report = await enrolment.drain_events()
    assert report.goals_reached == 1
    clock.advance(days=3)
    assert await enrolment.advance_due_runs() == 0
    await linked.dispatcher.drain()
    assert _texts(linked, "o-reader") == [_texts(linked, "o-reader")[0]]
    async with db.session() as session:
        run = (await session.exec(select(JourneyRun))).one()
    assert (run.state, run.end_reason) == ("goal_reached", "goal: link_clicked")


async def test_click_events_enrol_nobody_and_do_not_pile_up(linked: Linked, db: Database, clock: FakeClock) -> None:
    enrolment = await _setup(linked, db, clock, RESEND, ["o-a", "o-b", "o-c"])
    await enrolment.drain_events()
    await linked.dispatcher.drain()
    for openid in ("o-a", "o-b", "o-c"):
        [link] = _LINK.findall(_texts(linked, openid)[0])
        await linked.click(link, as_openid=openid)
    async with db.session() as session:
        clicked = (await session.exec(select(DomainEvent).where(DomainEvent.kind == "link_clicked"))).all()
    assert len(clicked) == 3
    assert await _waiting_events(db) == 3
    report = await enrolment.drain_events()
    assert (report.events, report.enrolled) == (3, 0)
    assert await _waiting_events(db) == 0
    async with db.session() as session:
        assert len((await session.exec(select(JourneyRun))).all()) == 3
