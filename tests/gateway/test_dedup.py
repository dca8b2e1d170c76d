"""Duplicate deliveries: the handler runs once and every retry gets the first delivery's answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import select

from base.clock import FakeClock
from gateway.app import ENDPOINT_KEY
from handlers.context import HandlerContext, Services
from handlers.default_router import build_default_router
from handlers.middlewares import DEFAULT_MIDDLEWARES
from handlers.router import Dispatcher, Router
from storage.db import Database
from storage.inbound import claim_delivery, finish_delivery
from storage.models.core import InboundEvent
from tests.gateway.conftest import RecordingWeChatAPI
from tests.support.wechat import TestAccount, plaintext_callback, read_reply, safe_callback, text_xml
from wechat.events import TextMessage
from wechat.replies import Reply, TextReply


class GatedHandler:
    """A text handler that counts its runs and, when gated, waits for the test to let it finish."""

    def __init__(self, gated: bool = False) -> None:
        self.runs = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        if not gated:
            self.release.set()

    async def handle(self, event: TextMessage, ctx: HandlerContext) -> Reply | None:
        self.runs += 1
        self.entered.set()
        await self.release.wait()
        return TextReply(f"第{self.runs}次处理：{event.content}")

    def dispatcher(self) -> Dispatcher:
        router = Router("gated")
        router.on("text")(self.handle)
        root = Router("root")
        root.include(router, build_default_router())
        return Dispatcher(root, DEFAULT_MIDDLEWARES)


async def _post(client: TestClient[Any, Any], callback: Any, path: str = "/wechat") -> tuple[int, str]:
    response = await client.post(path, params=callback.params, data=callback.body)
    return response.status, await response.text()


async def _drain(client: TestClient[Any, Any]) -> None:
    await client.app[ENDPOINT_KEY].background.drain()


async def _rows(db: Database) -> list[InboundEvent]:
    async with db.session() as session:
        return list((await session.exec(select(InboundEvent))).all())


async def test_sequential_retry_gets_the_same_reply_without_rerunning(
    make_client: Any, account: TestAccount, now_ts: int, db: Database
) -> None:
    handler = GatedHandler()
    client = await make_client(handler.dispatcher())
    xml = text_xml("o-seq", "你好", msg_id="2001")
    first = await _post(client, plaintext_callback(account, xml, timestamp=now_ts))
    await _drain(client)
    second = await _post(client, plaintext_callback(account, xml, timestamp=now_ts + 5))
    assert first[0] == second[0] == 200
    assert read_reply(account, first[1])["Content"] == "第1次处理：你好"
    assert read_reply(account, second[1])["Content"] == "第1次处理：你好"
    assert handler.runs == 1
    rows = await _rows(db)
    assert len(rows) == 1 and rows[0].state == "done" and rows[0].delivered_via == "inline"


async def test_safe_mode_retry_is_re_encrypted_for_its_own_request(
    make_client: Any, account: TestAccount, now_ts: int
) -> None:
    handler = GatedHandler()
    client = await make_client(handler.dispatcher())
    xml = text_xml("o-safe", "再来", msg_id="2002")
    first = await _post(client, safe_callback(account, xml, timestamp=now_ts, nonce="first"))
    await _drain(client)
    second = await _post(client, safe_callback(account, xml, timestamp=now_ts + 5, nonce="second"))
    assert first[1] != second[1]  # a fresh envelope (nonce, signature) for each request
    assert read_reply(account, first[1])["Content"] == read_reply(account, second[1])["Content"] == "第1次处理：再来"
    assert handler.runs == 1


async def test_concurrent_duplicates_run_the_handler_once(make_client: Any, account: TestAccount, now_ts: int) -> None:
    handler = GatedHandler(gated=True)
    client = await make_client(handler.dispatcher())
    xml = text_xml("o-conc", "同时", msg_id="2003")
    first = asyncio.create_task(_post(client, plaintext_callback(account, xml, timestamp=now_ts)))
    await handler.entered.wait()
    retries = [
        asyncio.create_task(_post(client, plaintext_callback(account, xml, timestamp=now_ts + i))) for i in (1, 2)
    ]
    await asyncio.sleep(0)  # let the retries reach the gateway before the first delivery finishes
    handler.release.set()
    answers = await asyncio.gather(first, *retries)
    assert handler.runs == 1
    assert {read_reply(account, body)["Content"] for _status, body in answers} == {"第1次处理：同时"}


async def test_retry_of_a_delivery_running_in_another_process_waits_for_its_reply(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int, db: Database, clock: FakeClock
) -> None:
    xml = text_xml("o-other", "跨进程", msg_id="2004")
    # Another process claimed this message and is still working on it.
    delivery_id = await claim_delivery(
        db,
        dedup_key="msg:o-other:2004",
        appid=account.appid,
        openid="o-other",
        kind="text",
        msg_id="2004",
        received_at=clock.now(),
        payload={},
    )
    assert delivery_id is not None
    retry = asyncio.create_task(_post(client, plaintext_callback(account, xml, timestamp=now_ts)))
    await asyncio.sleep(0.1)  # the retry is now polling the row
    assert not retry.done()
    await finish_delivery(
        db, delivery_id, reply=TextReply("来自另一个进程").to_doc(), delivered_via="inline", finished_at=clock.now()
    )
    status, body = await retry
    assert status == 200
    assert read_reply(account, body)["Content"] == "来自另一个进程"


async def test_retry_after_a_stale_claim_answers_success_without_running(
    make_client: Any, account: TestAccount, now_ts: int, db: Database, clock: FakeClock
) -> None:
    handler = GatedHandler()
    client = await make_client(handler.dispatcher())
    await claim_delivery(
        db,
        dedup_key="msg:o-dead:2005",
        appid=account.appid,
        openid="o-dead",
        kind="text",
        msg_id="2005",
        received_at=clock.now() - timedelta(minutes=2),
        payload={},
    )
    status, body = await _post(
        client, plaintext_callback(account, text_xml("o-dead", "x", msg_id="2005"), timestamp=now_ts)
    )
    assert (status, body) == (200, "success")
    assert handler.runs == 0


async def test_retry_of_a_late_reply_sent_through_the_api_answers_success(
    make_client: Any, services: Services, account: TestAccount, now_ts: int, api: RecordingWeChatAPI, db: Database
) -> None:
    services.settings = services.settings.with_overrides(reply_deadline=0.1)
    handler = GatedHandler(gated=True)
    client = await make_client(handler.dispatcher())
    xml = text_xml("o-late", "慢", msg_id="2006")
    assert await _post(client, plaintext_callback(account, xml, timestamp=now_ts)) == (200, "success")
    handler.release.set()
    await _drain(client)
    assert await _post(client, plaintext_callback(account, xml, timestamp=now_ts + 5)) == (200, "success")
    assert handler.runs == 1
    assert len(api.sent) == 1
