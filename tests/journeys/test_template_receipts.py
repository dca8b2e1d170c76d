"""A template message's msgid is kept, so WeChat's later TEMPLATESENDJOBFINISH can be matched to the push."""

from __future__ import annotations

import pytest
from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from storage.db import Database
from storage.models.engagement import TemplateReceipt
from tests.journeys.helpers import add_follower, add_push, add_template, at_china, wired_dispatcher

pytestmark = pytest.mark.storage

NOTICE = {
    "kind": "wechat_template",
    "purpose": "service",
    "template_id": "TPL_ORDER",
    "wechat_keys": ["first"],
    "data": {"first": {"value": "您的订单已发货"}},
}


async def test_a_sent_template_message_keeps_the_msgid_wechat_answered(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    at_china(clock, 12, 0)
    version = await add_template(db, clock, "shipped", NOTICE)
    fid = await add_follower(db, clock, "o-tpl", last_message_ago=None)
    push_id = await add_push(db, clock, fid, version)
    await add_push(db, clock, await add_follower(db, clock, "o-text"), await add_template(db, clock, "t"))
    async with wired_dispatcher(db, clock, settings) as wired:
        await wired.dispatcher.drain()
        [call] = wired.fake.calls_to("message/template/send")
        assert len(wired.fake.sent_to("o-text")) == 1
    async with db.session() as session:
        receipts = (await session.exec(select(TemplateReceipt))).all()
    # One receipt, for the template message only (a customer-service message has no msgid).
    assert [(r.push_id, r.follower_id, r.msg_id, r.status) for r in receipts] == [
        (push_id, fid, str(call.answer["msgid"]), "")
    ]


async def test_a_msgid_wechat_answers_again_neither_fails_the_send_nor_duplicates_it(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    """msgids are WeChat's to give: a second process of the fake, or WeChat itself, may repeat one. The
    newer send takes the receipt; the dispatcher's accounting must not fail over it (a failed flush left
    pushes 'unknown' and let them be sent twice)."""
    at_china(clock, 12, 0)
    version = await add_template(db, clock, "shipped", NOTICE)
    first = await add_push(db, clock, await add_follower(db, clock, "o-first", last_message_ago=None), version)
    async with wired_dispatcher(db, clock, settings) as wired:
        wired.fake.next_msgid = 1000
        await wired.dispatcher.drain()
    async with wired_dispatcher(db, clock, settings) as wired:
        wired.fake.next_msgid = 1000  # WeChat answers the same msgid again
        second_follower = await add_follower(db, clock, "o-second", last_message_ago=None)
        second = await add_push(db, clock, second_follower, version)
        report = await wired.dispatcher.drain()
        assert len(wired.fake.sent_to("o-second")) == 1
    assert report.sent == 1
    async with db.session() as session:
        receipts = (await session.exec(select(TemplateReceipt))).all()
    assert [(r.push_id, r.follower_id) for r in receipts] == [(second, second_follower)]
    assert first != second
