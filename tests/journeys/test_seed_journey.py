"""The journey the seeds describe, end to end with a fake clock and the fake WeChat API:

follow -> welcome (inside the follow's 1-minute window) -> a day later the brand story, held because no
window is open -> the follower writes, the story is delivered right after the reply -> an imported
purchase ends the journey (goal) and starts the loyalty journey, and is attributed to the story push.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import FakeClock
from base.settings import Settings
from content.model import JourneyDefinition
from handlers.context import HandlerContext, Services
from journeys.enrolment import Enrolment
from journeys.policy import DispatchPolicy
from journeys.report import format_report, journey_report
from journeys.wake import make_interaction_hook
from publishing.publish import save_journey
from storage.db import Database
from storage.models.core import Account, DomainEvent, Follower, Profile
from storage.models.pushes import JourneyRun, Push, PushAttribution
from tests.journeys.helpers import APPID, add_follower, add_template, wired_dispatcher
from wechat.events import TextMessage

NEW_FOLLOWER: dict[str, Any] = {
    "name": "new_follower",
    "trigger": {"kind": "followed"},
    "goal": {"kind": "purchase"},
    "steps": [
        {"type": "send", "id": "welcome", "template": "welcome"},
        {"type": "wait", "id": "settle", "duration": "1d"},
        {"type": "send", "id": "story", "template": "brand_story", "expires_after": "5d"},
        {"type": "wait", "id": "think", "duration": "2d"},
        {"type": "send", "id": "products", "template": "products"},
    ],
}
LOYALTY: dict[str, Any] = {
    "name": "loyalty",
    "trigger": {"kind": "first_purchase"},
    "steps": [
        {"type": "send", "id": "thanks", "template": "thanks"},
        {"type": "wait", "id": "later", "duration": "7d"},
        {"type": "send", "id": "cross_sell", "template": "cross_sell"},
    ],
}


async def _setup(db: Database, clock: FakeClock) -> int:
    for name in ("welcome", "brand_story", "products", "thanks", "cross_sell"):
        await add_template(db, clock, name)
    async with db.session() as session:
        for doc in (NEW_FOLLOWER, LOYALTY):
            await save_journey(session, JourneyDefinition.from_doc(doc), now=clock.now())
        await session.commit()
    fid = await add_follower(db, clock, "o-mei", last_message_ago=None, last_event_ago=timedelta(0))
    async with db.session() as session:
        session.add(DomainEvent(kind="followed", occurred_at=clock.now(), appid=APPID, follower_id=fid, payload={}))
        await session.commit()
    return fid


async def _link_profile(session: AsyncSession, clock: FakeClock, fid: int, *, order_count: int) -> int:
    """A profile for the follower's bound phone, as an order import makes it; returns its id."""
    profile = Profile(phone_key="+8613800138000", phone_sealed="+8613800138000", created_at=clock.now(),
                      updated_at=clock.now(), order_count=order_count)  # fmt: skip
    session.add(profile)
    await session.flush()
    follower = await session.get(Follower, fid)
    assert follower is not None and profile.id is not None
    follower.profile_id = profile.id
    session.add(follower)
    return profile.id


async def _texts(pushes: list[Push]) -> list[tuple[str, str]]:
    return [(p.step_key, p.status) for p in sorted(pushes, key=lambda p: p.id or 0)]


async def test_follow_welcome_held_story_purchase_then_loyalty(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    fid = await _setup(db, clock)
    enrolment = Enrolment(db, clock, DispatchPolicy.from_settings(settings))
    async with wired_dispatcher(db, clock, settings) as wired:
        await enrolment.drain_events()
        await wired.dispatcher.drain()
        assert [c.json["text"]["content"] for c in wired.fake.sent_to("o-mei") if c.json] == ["hello from welcome"]

        clock.advance(days=1)
        assert await enrolment.advance_due_runs() == 1
        await wired.dispatcher.drain()
        async with db.session() as session:
            story = (await session.exec(select(Push).where(Push.step_key == "story"))).one()
        assert story.status == "held"

        # The follower writes; the gateway records the message, replies, then runs the hook.
        clock.advance(hours=3)
        async with db.session() as session:
            follower = await session.get(Follower, fid)
            assert follower is not None
            follower.last_message_at = clock.now()
            session.add(follower)
            await session.commit()
            await session.refresh(follower)
        services = Services(db=db, settings=wired.settings, clock=clock)
        ctx = HandlerContext(services=services, account=Account(appid=APPID, created_at=clock.now()), follower=follower)
        message = TextMessage("gh", "o-mei", 1, "text", {}, msg_id="9", content="你好")
        await make_interaction_hook(wired.dispatcher)(ctx, message)
        delivered = [c.json["text"]["content"] for c in wired.fake.sent_to("o-mei") if c.json]
        assert delivered[-1] == "hello from brand_story"

        # A day later the admin imports an order of the follower's bound phone.
        clock.advance(days=1)
        async with db.session() as session:
            profile_id = await _link_profile(session, clock, fid, order_count=1)
            for push in (await session.exec(select(Push).where(Push.follower_id == fid))).all():
                push.profile_id = profile_id
                session.add(push)
            payload = {"order_no": "T1001", "platform": "tmall", "amount_fen": 29900, "product": "精华液"}
            session.add(DomainEvent(kind="first_purchase", occurred_at=clock.now() - timedelta(hours=1),
                                    profile_id=profile_id, payload=payload, dedup_key="order:tmall:T1001"))  # fmt: skip
            await session.commit()
        report = await enrolment.drain_events()
        assert (report.goals_reached, report.enrolled, report.attributed) == (1, 1, 1)
        assert await enrolment.advance_due_runs() == 0
        await wired.dispatcher.drain()
        sent = [c.json["text"]["content"] for c in wired.fake.sent_to("o-mei") if c.json]

    assert sent == ["hello from welcome", "hello from brand_story", "hello from thanks"]
    async with db.session() as session:
        runs = {r.journey_name: r for r in (await session.exec(select(JourneyRun))).all()}
        credit = (await session.exec(select(PushAttribution))).one()
        pushes = list((await session.exec(select(Push))).all())
    assert runs["new_follower"].state == "goal_reached"
    assert (runs["loyalty"].state, runs["loyalty"].step_id) == ("active", "cross_sell")
    assert (credit.order_no, credit.amount_fen, credit.push_id) == ("T1001", 29900, story.id)
    assert await _texts(pushes) == [("welcome", "sent"), ("story", "sent"), ("thanks", "sent")]
    async with db.session() as session:
        by_journey = {row["journey"]: row for row in await journey_report(session)}
    story_row = next(step for step in by_journey["new_follower"]["steps"] if step["step"] == "story")
    assert (story_row["sent"], story_row["delivered_after_hold"], story_row["orders"]) == (1, 1, 1)
    assert by_journey["new_follower"]["revenue_fen"] == 29900
    assert by_journey["new_follower"]["runs"] == {"goal_reached": 1}
    assert "total: 1 orders, 299.00 yuan attributed" in "\n".join(format_report(list(by_journey.values())))


async def test_unfollow_and_consent_withdrawal_cancel_pending_pushes(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    fid = await _setup(db, clock)
    other = await add_follower(db, clock, "o-lin", last_message_ago=None, last_event_ago=timedelta(0))
    enrolment = Enrolment(db, clock, DispatchPolicy.from_settings(settings))
    async with db.session() as session:
        session.add(DomainEvent(kind="followed", occurred_at=clock.now(), appid=APPID, follower_id=other, payload={}))
        await session.commit()
    await enrolment.drain_events()
    async with db.session() as session:
        session.add(DomainEvent(kind="unfollowed", occurred_at=clock.now(), follower_id=fid, payload={}))
        session.add(DomainEvent(kind="consent_withdrawn", occurred_at=clock.now(), follower_id=other, payload={}))
        await session.commit()
    report = await enrolment.drain_events()
    assert (report.cancelled_pushes, report.exited) == (2, 2)
    async with db.session() as session:
        pushes = list((await session.exec(select(Push))).all())
        runs = list((await session.exec(select(JourneyRun))).all())
    assert {(p.status, p.reason) for p in pushes} == {("cancelled", "unfollowed"), ("cancelled", "consent_withdrawn")}
    assert {r.state for r in runs} == {"exited"}


async def test_each_domain_event_is_processed_once(db: Database, clock: FakeClock, settings: Settings) -> None:
    await _setup(db, clock)
    first = Enrolment(db, clock, DispatchPolicy.from_settings(settings))
    second = Enrolment(db, clock, DispatchPolicy.from_settings(settings))
    assert (await first.drain_events()).enrolled == 1
    assert (await second.drain_events()).events == 0
    async with db.session() as session:
        assert len((await session.exec(select(JourneyRun))).all()) == 1


async def test_reentry_never_keeps_a_returning_follower_out(db: Database, clock: FakeClock, settings: Settings) -> None:
    fid = await _setup(db, clock)
    enrolment = Enrolment(db, clock, DispatchPolicy.from_settings(settings))
    await enrolment.drain_events()
    async with db.session() as session:
        session.add(DomainEvent(kind="unfollowed", occurred_at=clock.now(), follower_id=fid, payload={}))
        await session.commit()
    await enrolment.drain_events()
    clock.advance(days=30)
    async with db.session() as session:
        session.add(DomainEvent(kind="followed", occurred_at=clock.now(), follower_id=fid, payload={}))
        await session.commit()
    assert (await enrolment.drain_events()).enrolled == 0


async def test_an_imported_purchase_from_last_month_starts_no_journey(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    """Importing a shop's order history must not thank every buyer for an old order; a recent one does."""
    fid = await _setup(db, clock)
    enrolment = Enrolment(db, clock, DispatchPolicy.from_settings(settings))
    await enrolment.drain_events()  # the follow: new_follower starts
    async with db.session() as session:
        profile_id = await _link_profile(session, clock, fid, order_count=2)
        for order_no, age in (("T1", timedelta(days=30)), ("T2", timedelta(days=2))):
            kind = "first_purchase" if order_no == "T1" else "repeat_purchase"
            payload = {"order_no": order_no, "platform": "tmall", "amount_fen": 9900, "product": "精华液"}
            session.add(DomainEvent(kind=kind, occurred_at=clock.now() - age, profile_id=profile_id,
                                    payload=payload, dedup_key=f"{kind}:tmall:{order_no}"))  # fmt: skip
        await session.commit()
    report = await enrolment.drain_events()
    # loyalty listens to first_purchase; new_follower's goal is any purchase made since it began.
    assert (report.events, report.old_purchases, report.enrolled, report.goals_reached) == (2, 1, 0, 0)
    async with db.session() as session:
        runs = {r.journey_name: r.state for r in (await session.exec(select(JourneyRun))).all()}
    assert runs == {"new_follower": "active"}
