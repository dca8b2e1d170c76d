"""A stub gateway that checks callbacks with wechatpy (not with our own code), and the simulator app around it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import xmltodict
from aiohttp import web
from aiohttp.test_utils import TestClient
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import ArticlesReply
from wechatpy.utils import check_signature

from base.clock import FakeClock
from base.settings import Settings
from sandbox.callbacks import SandboxAccount
from sandbox.fake_wechat import FakeWeChat
from sandbox.simulator import Simulator, add_sandbox_routes

# Unique per run: the shared PostgreSQL test database may hold other runs' token rows for the default appid.
APPID = "wx" + secrets.token_hex(8)
AiohttpClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@dataclass
class StubGateway:
    """Answers callbacks like a tiny gateway would: verifies, decrypts, replies (encrypted in safe mode)."""

    account: SandboxAccount
    received: list[dict[str, Any]] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        try:
            check_signature(self.account.token, query["signature"], query["timestamp"], query["nonce"])
        except InvalidSignatureException:
            return web.Response(status=403, text="bad signature")
        body = await request.text()
        crypto = WeChatCrypto(self.account.token, self.account.aes_key, self.account.appid)
        encrypted = query.get("encrypt_type") == "aes"
        xml = (
            crypto.decrypt_message(body, query["msg_signature"], query["timestamp"], query["nonce"])
            if encrypted
            else body
        )
        message = parse_message(xml)
        self.queries.append(query)
        self.bodies.append(body)
        # The fields as sent (wechatpy's parsed message renames some, e.g. subscribe_scan).
        self.received.append(dict(xmltodict.parse(xml)["xml"]))
        reply_xml = self._reply(message)
        if reply_xml is None:
            return web.Response(text="success")
        if reply_xml == "HTTP 500":
            return web.Response(status=500, text="boom")
        if encrypted:
            reply_xml = crypto.encrypt_message(reply_xml, query["nonce"], query["timestamp"])
        return web.Response(text=reply_xml, content_type="application/xml")

    def _reply(self, message: Any) -> str | None:
        if message.type == "text":
            if message.content == "boom":
                return "HTTP 500"
            if message.content == "garbage":
                return "<xml><Content>half"
            if message.content == "news":
                reply = ArticlesReply(message=message)
                reply.add_article(
                    {"title": "<b>春季新品</b>", "description": "new season", "url": "https://shop.example/1"}
                )
                return str(reply.render())
            if message.content == "quiet":
                return None
            return str(create_reply(f"echo: {message.content}", message).render())
        if message.type == "event" and message.event in ("subscribe", "subscribe_scan"):
            return str(create_reply("欢迎关注!", message).render())
        return None


@dataclass
class Sandbox:
    client: TestClient[Any, Any]
    gateway: StubGateway
    fake: FakeWeChat
    simulator: Simulator


class RecordingOutbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        return self.messages[::-1][:limit]


@pytest.fixture
def account(settings: Settings) -> SandboxAccount:
    return SandboxAccount.from_settings(settings.with_overrides(wechat_appid=APPID))


@pytest.fixture
def outbox() -> RecordingOutbox:
    return RecordingOutbox()


@pytest.fixture
async def sandbox(
    aiohttp_client: AiohttpClient, account: SandboxAccount, clock: FakeClock, outbox: RecordingOutbox
) -> AsyncIterator[Sandbox]:
    async with FakeWeChat(clock=clock) as fake:
        gateway = StubGateway(account)
        app = web.Application()
        app.router.add_post("/wechat", gateway.handle)
        simulator = add_sandbox_routes(
            app, gateway_url="/wechat", account=account, fake=fake, clock=clock, sms_outbox=outbox
        )
        # The API's messages follow the page's language; these tests read them in English.
        client = await aiohttp_client(app, headers={"Accept-Language": "en"})
        yield Sandbox(client, gateway, fake, simulator)
