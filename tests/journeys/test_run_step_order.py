"""The steps of one journey run reach the follower in their order, whatever holds an earlier one back.

Issue 13: a marketing step held by quiet hours, then a service step: the service step arrived first.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from content.model import JourneyDefinition
from handlers.context import HandlerContext, Services
from journeys.enrolment import Enrolment
from journeys.policy import DispatchPolicy
from journeys.wake import make_interaction_hook
from publishing.publish import save_journey
from storage.db import Database
from storage.models.core import Account, DomainEvent, Follower
from storage.models.pushes import Push
from tests.journeys.helpers import APPID, add_follower, add_push, add_template, at_china, wired_dispatcher
from wechat.events import TextMessage

SERVICE_TEXT = {"kind": "text", "purpose": "service", "content": "您的会员卡已开通"}
SERVICE_NOTICE = {
    "kind": "wechat_template",
    "purpose": "service",
    "template_id": "TPL_MEMBER",
    "wechat_keys": ["first"],
    "data": {"first": {"value": "会员卡已开通"}},
}


async def _journey(db: Database, clock: FakeClock, second: dict[str, Any]) -> None:
    await add_template(db, clock, "promo")
    await add_template(db, clock, "member_card", second)
    doc = {
        "name": "welcome_pair",
        "trigger": {"kind": "followed"},
        "steps": [
            {"type": "send", "id": "promo", "template": "promo"},
            {"type": "send", "id": "card", "template": "member_card"},
        ],
    }
    async with db.session() as session:
        await save_journey(session, JourneyDefinition.from_doc(doc), now=clock.now())
        await session.commit()


async def _follow(db: Database, clock: FakeClock, fid: int) -> None:
    async with db.session() as session:
        session.add(DomainEvent(kind="followed", occurred_at=clock.now(), appid=APPID, follower_id=fid, payload={}))
        await session.commit()


def _received(calls: list[Any]) -> list[str]:
    texts = []
    for call in calls:
        body = call.json or {}
        texts.append(body["text"]["content"] if "text" in body else body["data"]["first"]["value"])
    return texts


async def _statuses(db: Database) -> dict[str, str]:
    async with db.session() as session:
        return {p.step_key: p.status for p in (await session.exec(select(Push))).all()}


async def test_a_service_step_waits_for_the_marketing_step_held_by_quiet_hours(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    at_china(clock, 23, 0)
    await _journey(db, clock, SERVICE_TEXT)
    fid = await add_follower(db, clock, "o-night")
    await _follow(db, clock, fid)
    enrolment = Enrolment(db, clock, DispatchPolicy.from_settings(settings))
    async with wired_dispatcher(db, clock, settings) as wired:
        assert (await enrolment.drain_events()).enrolled == 1
        await wired.dispatcher.drain()
        assert wired.fake.sent_to("o-night") == []  # the service step waits behind the quiet promo
        at_china(clock, 8, 31)
        clock.advance(days=1)
        await wired.dispatcher.drain()
        received = _received(wired.fake.sent_to("o-night"))
    assert received == ["hello from promo", "您的会员卡已开通"]
    assert await _statuses(db) == {"promo": "sent", "card": "sent"}


async def test_a_later_step_waits_while_an_earlier_one_is_deferred_by_the_cap(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    at_china(clock, 12, 0)
    await _journey(db, clock, SERVICE_TEXT)
    fid = await add_follower(db, clock, "o-capped")
    earlier = await add_template(db, clock, "earlier")
    for _ in range(2):  # the day's two marketing pushes are already out
        await add_push(db, clock, fid, earlier, status="sent", sent_at=clock.now() - timedelta(hours=1))
    await _follow(db, clock, fid)
    enrolment = Enrolment(db, clock, DispatchPolicy.from_settings(settings))
    async with wired_dispatcher(db, clock, settings) as wired:
        await enrolment.drain_events()
        await wired.dispatcher.drain()
        assert wired.fake.sent_to("o-capped") == []
        assert await _statuses(db) == {"": "sent", "promo": "pending", "card": "pending"}
        clock.advance(days=1)
        await wired.dispatcher.drain()
        received = _received(wired.fake.sent_to("o-capped"))
    assert received == ["hello from promo", "您的会员卡已开通"]


async def test_a_template_notice_waits_for_the_held_step_before_it_and_follows_it_on_the_next_interaction(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    at_china(clock, 12, 0)
    await _journey(db, clock, SERVICE_NOTICE)
    # No window is open: the promo is held, and the template notice (which needs none) must not overtake it.
    fid = await add_follower(db, clock, "o-quiet", last_message_ago=None)
    await _follow(db, clock, fid)
    enrolment = Enrolment(db, clock, DispatchPolicy.from_settings(settings))
    async with wired_dispatcher(db, clock, settings) as wired:
        await enrolment.drain_events()
        await wired.dispatcher.drain()
        assert wired.fake.sent_to("o-quiet") == []
        assert await _statuses(db) == {"promo": "held", "card": "pending"}

        clock.advance(hours=2)
        async with db.session() as session:
            follower = await session.get(Follower, fid)
            assert follower is not None
            follower.last_message_at = clock.now()
            session.add(follower)
            await session.commit()
            await session.refresh(follower)
        ctx = HandlerContext(
            services=Services(db=db, settings=wired.settings, clock=clock),
            account=Account(appid=APPID, created_at=clock.now()),
            follower=follower,
        )
        await make_interaction_hook(wired.dispatcher)(ctx, TextMessage("gh", "o-quiet", 1, "text", {}, msg_id="1"))
        received = _received(wired.fake.sent_to("o-quiet"))
    assert received == ["hello from promo", "会员卡已开通"]
    assert await _statuses(db) == {"promo": "sent", "card": "sent"}
