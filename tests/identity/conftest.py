"""A follower chatting with the gateway through signed callbacks, with the identity routers installed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from gateway.app import ENDPOINT_KEY, build_gateway_app
from handlers.binding import binding_router
from handlers.context import Services
from handlers.default_router import build_default_dispatcher
from handlers.optout import optout_router
from identity.services import build_identity_services
from identity.sms.sandbox import SandboxSmsSender
from storage.db import Database
from storage.models.core import Follower, Profile
from storage.models.orders import Order
from tests.support.wechat import TestAccount, callback_xml, plaintext_callback, read_reply
from wechat.api.client import WeChatAPI

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


class RecordingWeChatAPI:
    """The customer-service API seam: late replies land here."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send_custom_message(self, appid: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.sent.append((appid, payload))
        return {"errcode": 0, "errmsg": "ok"}


class Chat:
    """Sends text messages and menu clicks as WeChat would, and returns the text the follower reads."""

    def __init__(self, client: TestClient[Any, Any], account: TestAccount, clock: FakeClock, api: RecordingWeChatAPI):
        self.client = client
        self.account = account
        self.clock = clock
        self.api = api
        self._msg_id = 1000

    async def _post(self, fields: dict[str, Any]) -> str:
        timestamp = int(self.clock.now().timestamp())
        callback = plaintext_callback(self.account, callback_xml(fields), timestamp=timestamp)
        sent_before = len(self.api.sent)
        response = await self.client.post("/wechat", params=callback.params, data=callback.body)
        body = await response.text()
        assert response.status == 200, body
        if body == "success":
            # The reply was late: the gateway sends it through the API after answering.
            await self.client.app[ENDPOINT_KEY].background.drain(10)
            late = self.api.sent[sent_before:]
            return str(late[-1][1]["text"]["content"]) if late else ""
        return read_reply(self.account, body).get("Content", "")

    async def say(self, openid: str, content: str, *, unionid: str | None = None) -> str:
        self._msg_id += 1
        fields: dict[str, Any] = {
            "ToUserName": self.account.original_id,
            "FromUserName": openid,
            "CreateTime": int(self.clock.now().timestamp()),
            "MsgType": "text",
            "Content": content,
            "MsgId": str(self._msg_id),
        }
        if unionid:
            fields["UnionId"] = unionid
        return await self._post(fields)

    async def click(self, openid: str, key: str) -> str:
        self.clock.advance(seconds=1)
        return await self._post(
            {
                "ToUserName": self.account.original_id,
                "FromUserName": openid,
                "CreateTime": int(self.clock.now().timestamp()),
                "MsgType": "event",
                "Event": "CLICK",
                "EventKey": key,
            }
        )


@pytest.fixture
def api() -> RecordingWeChatAPI:
    return RecordingWeChatAPI()


@pytest.fixture
def sms(clock: FakeClock) -> SandboxSmsSender:
    return SandboxSmsSender(clock, logging.getLogger("tests.sms"), reveal=True)


@pytest.fixture
def services(
    db: Database, settings: Settings, clock: FakeClock, api: RecordingWeChatAPI, sms: SandboxSmsSender
) -> Services:
    identity = build_identity_services(db, settings, clock)
    return Services(
        db=db,
        settings=settings,
        clock=clock,
        wechat_api=cast(WeChatAPI, api),
        conversations=identity.conversations,
        phone_vault=identity.phone_vault,
        sms_sender=sms,
        sms_outbox=sms,
    )


@pytest.fixture
async def chat(
    services: Services, settings: Settings, clock: FakeClock, api: RecordingWeChatAPI, aiohttp_client: ClientFactory
) -> AsyncIterator[Chat]:
    app = build_gateway_app(services, build_default_dispatcher(binding_router, optout_router))
    client = await aiohttp_client(app)
    yield Chat(client, TestAccount.from_settings(settings), clock, api)
    # Close (and drain after-reply work) while the database is still open.
    await client.close()


async def follower_of(db: Database, openid: str, appid: str | None = None) -> Follower:
    async with db.session() as session:
        statement = select(Follower).where(Follower.openid == openid)
        if appid:
            statement = statement.where(Follower.appid == appid)
        return (await session.exec(statement)).one()


async def add_profile_with_orders(
    db: Database, phone_key: str, sealed: str, masked: str, orders: list[tuple[str, int]], at: datetime
) -> int:
    """A profile as an order import leaves it, with (order_no, paid_fen) orders on Tmall."""
    async with db.transaction() as session:
        profile = Profile(
            phone_key=phone_key,
            phone_sealed=sealed,
            phone_masked=masked,
            name="张三丰",
            city="杭州",
            created_at=at,
            updated_at=at,
        )
        session.add(profile)
        await session.flush()
        assert profile.id is not None
        for number, (order_no, paid) in enumerate(orders):
            session.add(
                Order(
                    platform="tmall",
                    order_no=order_no,
                    status="completed",
                    paid_fen=paid,
                    total_fen=paid,
                    profile_id=profile.id,
                    ordered_at=at.replace(day=1 + number),
                    receiver_name="张三丰",
                    receiver_city="杭州",
                    raw={"收货地址": "浙江省杭州市西湖区文三路99号", "联系手机": "13912345678"},
                    created_at=at,
                    updated_at=at,
                )
            )
        return profile.id
