"""What a follower does joins their profile's timeline: menu taps, keyword replies, send results."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from base.clock import FakeClock
from handlers.context import Services
from storage.db import Database
from storage.engagement import profile_timeline
from storage.models.core import DomainEvent, Profile
from storage.models.engagement import MassSendResult, TemplateReceipt
from storage.models.orders import Order
from tests.gateway.test_handlers import _gateway
from tests.support.wechat import TestAccount, event_xml, text_xml

pytestmark = pytest.mark.storage


async def _events(db: Database) -> list[tuple[str, dict[str, Any]]]:
    async with db.session() as session:
        rows = (await session.exec(select(DomainEvent).order_by(DomainEvent.id))).all()  # type: ignore[arg-type]
    return [(row.kind, row.payload) for row in rows]


async def test_menu_taps_are_kept_once_each(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    gw = await _gateway(make_client, services, account, db, clock)
    click = event_xml("o-menu", "CLICK", event_key="STORY")
    assert (await gw.post(click))["Content"] == "品牌故事"  # type: ignore[index]
    await gw.post(click)  # WeChat's retry of the same tap
    await gw.post(event_xml("o-menu", "VIEW", event_key="https://shop.example/new", create_time=3))
    follower = await gw.follower("o-menu")
    assert await _events(db) == [
        ("menu_tapped", {"type": "click", "key": "STORY"}),
        ("menu_tapped", {"type": "view", "url": "https://shop.example/new"}),
    ]
    async with db.session() as session:
        ids = {row.follower_id for row in (await session.exec(select(DomainEvent))).all()}
    assert ids == {follower.id}


async def test_a_keyword_reply_is_kept_and_other_texts_are_not(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    gw = await _gateway(make_client, services, account, db, clock)
    await gw.post(text_xml("o-kw", " 优惠 ", msg_id="1"))
    await gw.post(text_xml("o-kw", "你们几点开门", msg_id="2"))
    assert await _events(db) == [("keyword_replied", {"keyword": "优惠"})]


async def test_a_template_result_is_matched_to_its_push(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    gw = await _gateway(make_client, services, account, db, clock)
    await gw.post(text_xml("o-tpl", "hi", msg_id="1"))
    follower = await gw.follower("o-tpl")
    assert follower.id is not None
    async with db.transaction() as session:
        session.add(
            TemplateReceipt(appid=account.appid, msg_id="777", push_id=42, follower_id=follower.id, sent_at=clock.now())
        )
    clock.advance(minutes=1)
    await gw.post(event_xml("o-tpl", "TEMPLATESENDJOBFINISH", create_time=5, MsgID="777", Status="failed:user block"))
    await gw.post(event_xml("o-tpl", "TEMPLATESENDJOBFINISH", create_time=6, MsgID="999", Status="success"))
    async with db.session() as session:
        receipt = (await session.exec(select(TemplateReceipt))).one()
    assert (receipt.status, receipt.reported_at) == ("failed:user block", clock.now())
    assert await _events(db) == [
        ("template_send_result", {"msg_id": "777", "status": "failed:user block", "push_id": 42}),
        ("template_send_result", {"msg_id": "999", "status": "success"}),
    ]


async def test_a_mass_send_result_keeps_its_counts_once(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    gw = await _gateway(make_client, services, account, db, clock)
    counts = {"TotalCount": "100", "FilterCount": "90", "SentCount": "88", "ErrorCount": "2"}
    await gw.post(
        event_xml("gh-system", "MASSSENDJOBFINISH", create_time=7, MsgID="1000001", Status="send success", **counts)
    )
    await gw.post(
        event_xml("gh-system", "MASSSENDJOBFINISH", create_time=8, MsgID="1000001", Status="send success", **counts)
    )
    async with db.session() as session:
        [result] = (await session.exec(select(MassSendResult))).all()
    got = (result.msg_id, result.status, result.total_count, result.filter_count, result.sent_count)
    assert got + (result.error_count,) == ("1000001", "send success", 100, 90, 88, 2)


async def test_the_timeline_joins_what_followers_did_with_orders(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    gw = await _gateway(make_client, services, account, db, clock)
    async with db.transaction() as session:
        profile = Profile(
            phone_key="k1",
            phone_sealed="sealed",
            phone_masked="138****0000",
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(profile)
    assert profile.id is not None
    await gw.post(event_xml("o-t", "subscribe", event_key="qrscene_store-42"))
    async with db.transaction() as session:
        found = await gw.follower("o-t")
        found.profile_id = profile.id
        session.add(found)
    clock.advance(hours=1)
    async with db.transaction() as session:
        session.add(
            Order(platform="tmall", order_no="T1", status="paid", profile_id=profile.id, ordered_at=clock.now(),
                  paid_fen=19900, created_at=clock.now(), updated_at=clock.now())
        )  # fmt: skip
    clock.advance(hours=1)
    await gw.post(event_xml("o-t", "CLICK", event_key="STORY", create_time=9))
    async with db.session() as session:
        timeline = await profile_timeline(session, profile.id)
    assert [(entry.kind, entry.detail.get("scene") or entry.detail.get("order_no") or entry.detail.get("key"))
            for entry in timeline] == [("menu_tapped", "STORY"), ("order", "T1"), ("followed", "store-42")]  # fmt: skip
