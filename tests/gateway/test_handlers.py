"""The basic handlers through signed callbacks: follows, unfollows, scans, menus, keywords, fallbacks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import select

from base.clock import FakeClock
from gateway.app import ENDPOINT_KEY
from handlers.context import Services
from handlers.fallback import DEFAULT_MESSAGE_REPLY
from handlers.replybook import DEFAULT_HELP, DEFAULT_WELCOME, StaticReplyBook
from publishing.replybook import ContentReplyBook
from storage.db import Database
from storage.models.core import DomainEvent, Follower
from tests.support.wechat import TestAccount, callback_xml, event_xml, plaintext_callback, read_reply, text_xml
from wechat.replies import Article, NewsReply, TextReply


class Gateway:
    """Posts plaintext callbacks for one account and reads back replies and rows."""

    def __init__(self, client: TestClient[Any, Any], account: TestAccount, db: Database, clock: FakeClock) -> None:
        self.client, self.account, self.db, self.clock = client, account, db, clock

    async def post(self, xml: str) -> dict[str, str] | None:
        callback = plaintext_callback(self.account, xml, timestamp=int(self.clock.now().timestamp()))
        response = await self.client.post("/wechat", params=callback.params, data=callback.body)
        assert response.status == 200
        body = await response.text()
        await self.client.app[ENDPOINT_KEY].background.drain()
        return None if body == "success" else read_reply(self.account, body)

    async def follower(self, openid: str) -> Follower:
        async with self.db.session() as session:
            return (await session.exec(select(Follower).where(Follower.openid == openid))).one()

    async def domain_events(self) -> list[tuple[str, dict[str, Any]]]:
        async with self.db.session() as session:
            rows = (await session.exec(select(DomainEvent).order_by(DomainEvent.id))).all()  # type: ignore[arg-type]
        return [(row.kind, row.payload) for row in rows]


BOOK = StaticReplyBook(
    keywords={"优惠": TextReply("本周优惠：满199减30")},
    menus={"STORY": TextReply("品牌故事")},
    scenes={"store-42": TextReply("欢迎光临42号门店")},
    scene_welcomes={"kol-7": TextReply("来自达人7的粉丝，欢迎！")},
)


async def _gateway(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> Gateway:
    services.reply_book = BOOK
    return Gateway(await make_client(), account, db, clock)


async def test_follow_through_a_channel_qr_code(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    gw = await _gateway(make_client, services, account, db, clock)
    reply = await gw.post(event_xml("o-new", "subscribe", event_key="qrscene_kol-7", Ticket="TICKET"))
    assert reply is not None and reply["Content"] == "来自达人7的粉丝，欢迎！"
    follower = await gw.follower("o-new")
    assert (follower.status, follower.channel_scene) == ("subscribed", "kol-7")
    assert follower.subscribed_at == clock.now()
    assert follower.last_event_at == clock.now() and follower.last_message_at is None
    assert await gw.domain_events() == [("followed", {"scene": "kol-7"})]


async def test_unfollow_then_follow_again_revives_the_follower(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    gw = await _gateway(make_client, services, account, db, clock)
    assert (await gw.post(event_xml("o-back", "subscribe", event_key="")))["Content"] == DEFAULT_WELCOME  # type: ignore[index]
    clock.advance(minutes=5)
    assert await gw.post(event_xml("o-back", "unsubscribe", create_time=2)) is None
    left = await gw.follower("o-back")
    assert (left.status, left.unsubscribed_at) == ("unsubscribed", clock.now())
    clock.advance(days=3)
    await gw.post(event_xml("o-back", "subscribe", create_time=3))
    back = await gw.follower("o-back")
    assert (back.status, back.unsubscribed_at, back.subscribed_at) == ("subscribed", None, clock.now())
    assert [kind for kind, _ in await gw.domain_events()] == ["followed", "unfollowed", "followed"]


async def test_scan_records_the_scene_and_answers_from_the_reply_book(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    gw = await _gateway(make_client, services, account, db, clock)
    reply = await gw.post(event_xml("o-scan", "SCAN", event_key="store-42", Ticket="T"))
    assert reply is not None and reply["Content"] == "欢迎光临42号门店"
    assert (await gw.follower("o-scan")).last_scan_scene == "store-42"
    assert await gw.domain_events() == [("scanned", {"scene": "store-42"})]
    assert await gw.post(event_xml("o-scan", "SCAN", event_key="unknown-scene", create_time=9)) is None


async def test_menu_click_and_view(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    gw = await _gateway(make_client, services, account, db, clock)
    assert (await gw.post(event_xml("o-menu", "CLICK", event_key="STORY")))["Content"] == "品牌故事"  # type: ignore[index]
    assert await gw.post(event_xml("o-menu", "CLICK", event_key="NOPE", create_time=2)) is None
    assert await gw.post(event_xml("o-menu", "VIEW", event_key="https://shop.example/", create_time=3)) is None
    follower = await gw.follower("o-menu")
    assert follower.last_interaction_kind == "event.view"
    assert follower.last_event_at == clock.now()


async def test_keywords_and_help(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    gw = await _gateway(make_client, services, account, db, clock)
    assert (await gw.post(text_xml("o-kw", " 优惠 ", msg_id="1")))["Content"] == "本周优惠：满199减30"  # type: ignore[index]
    helped = await gw.post(text_xml("o-kw", "你们几点开门", msg_id="2"))
    assert helped is not None and "绑定" in helped["Content"] and "退订" in helped["Content"]
    follower = await gw.follower("o-kw")
    assert follower.last_message_at == clock.now() and follower.last_interaction_kind == "text"


async def test_with_no_content_loaded_a_follow_and_a_message_both_get_the_built_in_help(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    # As `scrm serve` wires it: the content reply book, before any content has been loaded.
    services.reply_book = ContentReplyBook(db, clock)
    gw = Gateway(await make_client(), account, db, clock)
    welcomed = await gw.post(event_xml("o-first", "subscribe", event_key=""))
    assert welcomed is not None and welcomed["Content"] == DEFAULT_HELP
    helped = await gw.post(text_xml("o-first", "你们几点开门", msg_id="21"))
    assert helped is not None and helped["Content"] == DEFAULT_HELP
    assert (await gw.follower("o-first")).status == "subscribed"


async def test_other_messages_get_a_polite_default(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    gw = await _gateway(make_client, services, account, db, clock)
    image = callback_xml(
        {"ToUserName": "gh", "FromUserName": "o-img", "CreateTime": 1, "MsgType": "image", "PicUrl": "u", "MsgId": "8"}
    )
    assert (await gw.post(image))["Content"] == DEFAULT_MESSAGE_REPLY  # type: ignore[index]


async def test_platform_notices_are_not_interactions(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    gw = await _gateway(make_client, services, account, db, clock)
    await gw.post(text_xml("o-notice", "hi", msg_id="1"))
    talked_at = clock.now()
    clock.advance(hours=1)
    notice = event_xml("o-notice", "TEMPLATESENDJOBFINISH", create_time=5, MsgID="777", Status="failed:user block")
    assert await gw.post(notice) is None
    assert (await gw.follower("o-notice")).last_interaction_at == talked_at


async def test_location_reports_are_recorded_cheaply(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    gw = await _gateway(make_client, services, account, db, clock)
    for second in range(3):
        clock.advance(timedelta(seconds=5))
        report = event_xml("o-loc", "LOCATION", create_time=100 + second, Latitude="31.2", Longitude="121.4")
        assert await gw.post(report) is None
    follower = await gw.follower("o-loc")
    assert follower.last_interaction_at == clock.now() and follower.last_interaction_kind == "event.location"
    # A location report opens no customer-service window.
    assert follower.last_event_at is None and follower.last_message_at is None
    assert await gw.domain_events() == []


async def test_news_answering_a_message_keeps_one_article(
    make_client: Any, services: Services, account: TestAccount, db: Database, clock: FakeClock
) -> None:
    articles = tuple(Article(title=f"第{i}篇", url=f"https://brand.example/{i}") for i in range(3))
    services.reply_book = StaticReplyBook(keywords={"新品": NewsReply(articles=articles)})
    gw = Gateway(await make_client(), account, db, clock)
    callback = plaintext_callback(
        account, text_xml("o-news", "新品", msg_id="1"), timestamp=int(clock.now().timestamp())
    )
    body = await (await gw.client.post("/wechat", params=callback.params, data=callback.body)).text()
    assert "<ArticleCount>1</ArticleCount>" in body and "第0篇" in body and "第1篇" not in body
