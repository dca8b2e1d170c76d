"""Fixtures for tracked links: a gateway with a link tracker, the fake WeChat API, and a clicking helper."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from base.clock import FakeClock
from base.settings import Settings
from gateway.app import build_gateway_app
from gateway.links import RECORDER_KEY
from handlers.context import Services
from handlers.default_router import build_default_dispatcher
from journeys.adapters import ContentRenderer, WeChatSender
from journeys.dispatcher import DispatcherConfig, PushDispatcher
from journeys.policy import DispatchPolicy
from publishing.links import LinkTracker
from publishing.replybook import ContentReplyBook
from sandbox.fake_wechat import FakeWeChat
from storage.db import Database
from storage.models.core import DomainEvent
from storage.models.links import LinkClick
from wechat.api.client import WeChatAPI

PUBLIC = "https://scrm.example"
IN_WECHAT = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@dataclass
class Linked:
    fake: FakeWeChat
    settings: Settings
    services: Services
    tracker: LinkTracker
    client: TestClient[Any, Any]
    dispatcher: PushDispatcher

    async def click(self, url: str, *, ua: str = IN_WECHAT, as_openid: str | None = None) -> ClientResponse:
        """Open a tracked link as a browser would, through web authorization when it is asked for."""
        path = urlsplit(url)
        assert url.startswith(PUBLIC + "/l/"), url
        response = await self.client.get(
            path.path + (f"?{path.query}" if path.query else ""), allow_redirects=False, headers={"User-Agent": ua}
        )
        location = response.headers.get("Location", "")
        if response.status == 302 and location.startswith(self.fake.base_url + "/connect/oauth2/authorize"):
            authorize = location.split("#", 1)[0] + (f"&as_openid={as_openid}" if as_openid else "")
            async with self.client.session.get(authorize, allow_redirects=False) as answered:
                assert answered.status == 302
                back = answered.headers["Location"]
            return await self.click(back, ua=ua)
        return response


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeWeChat]:
    async with FakeWeChat(clock=clock) as running:
        yield running


@pytest.fixture
async def linked(
    db: Database, clock: FakeClock, settings: Settings, fake: FakeWeChat, aiohttp_client: ClientFactory
) -> AsyncIterator[Linked]:
    settings = settings.with_overrides(wechat_api_base=fake.base_url, public_url=PUBLIC)
    tracker = LinkTracker.for_settings(settings, clock, db)
    await tracker.start()
    async with WeChatAPI(settings, db, clock) as api:
        services = Services(
            db=db,
            settings=settings,
            clock=clock,
            wechat_api=api,
            link_tracker=tracker,
            reply_book=ContentReplyBook(db, clock, links=tracker),
        )
        client = await aiohttp_client(build_gateway_app(services, build_default_dispatcher()))
        dispatcher = PushDispatcher(
            db,
            WeChatSender(api),
            ContentRenderer(db, clock, links=tracker),
            clock,
            DispatchPolicy.from_settings(settings),
            DispatcherConfig(backoff_base=timedelta(seconds=30)),
        )
        yield Linked(fake, settings, services, tracker, client, dispatcher)
        await client.app[RECORDER_KEY].close()


async def clicks(db: Database) -> list[LinkClick]:
    async with db.session() as session:
        return list((await session.exec(select(LinkClick).order_by(col(LinkClick.id)))).all())


async def click_events(db: Database) -> list[DomainEvent]:
    async with db.session() as session:
        statement = select(DomainEvent).where(DomainEvent.kind == "link_clicked").order_by(col(DomainEvent.id))
        return list((await session.exec(statement)).all())
