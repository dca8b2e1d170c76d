"""Late replies through the API, after-reply hooks, handler failures, graceful shutdown, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pytest
from aiohttp import ClientConnectionResetError, ClientError, web
from prometheus_client import REGISTRY
from sqlmodel import select

from base.metrics import Probes
from gateway.app import ENDPOINT_KEY, build_gateway_app
from gateway.health import health_routes
from handlers.context import HandlerContext, Services
from handlers.default_router import build_default_dispatcher
from handlers.middlewares import DEFAULT_MIDDLEWARES, POLITE_FALLBACK
from handlers.router import Dispatcher, Router
from storage.db import Database
from storage.models.core import InboundEvent
from tests.gateway.conftest import RecordingWeChatAPI
from tests.support.wechat import TestAccount, plaintext_callback, read_reply, safe_callback, text_xml
from wechat.events import Inbound, TextMessage
from wechat.replies import Reply, TextReply


def _dispatcher(handler: Any) -> Dispatcher:
    router = Router("test")
    router.on("text")(handler)
    return Dispatcher(router, DEFAULT_MIDDLEWARES)


async def _delivery(db: Database) -> InboundEvent:
    async with db.session() as session:
        return (await session.exec(select(InboundEvent))).one()


async def test_slow_handler_answers_success_then_sends_through_the_api(
    make_client: Any, services: Services, account: TestAccount, now_ts: int, api: RecordingWeChatAPI, db: Database
) -> None:
    services.settings = services.settings.with_overrides(reply_deadline=0.1)
    release = asyncio.Event()

    async def slow(event: TextMessage, ctx: HandlerContext) -> Reply | None:
        await release.wait()
        return TextReply("终于好了")

    client = await make_client(_dispatcher(slow))
    callback = safe_callback(account, text_xml("o-slow", "查询", msg_id="3001"), timestamp=now_ts)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert (response.status, await response.text()) == (200, "success")
    assert api.sent == []
    release.set()
    await client.app[ENDPOINT_KEY].background.drain()
    assert api.sent == [(account.appid, {"touser": "o-slow", "msgtype": "text", "text": {"content": "终于好了"}})]
    row = await _delivery(db)
    assert (row.state, row.delivered_via, row.reply) == ("done", "api", {"kind": "text", "content": "终于好了"})


async def test_fast_handler_is_recorded_as_inline(
    client: Any, account: TestAccount, now_ts: int, api: RecordingWeChatAPI, db: Database
) -> None:
    callback = plaintext_callback(account, text_xml("o-fast", "帮助", msg_id="3002"), timestamp=now_ts)
    await client.post("/wechat", params=callback.params, data=callback.body)
    await client.app[ENDPOINT_KEY].background.drain()
    row = await _delivery(db)
    assert (row.state, row.delivered_via, row.kind, row.openid) == ("done", "inline", "text", "o-fast")
    assert api.sent == []


async def test_a_connection_closed_before_the_answer_is_no_server_error(
    client: Any,
    account: TestAccount,
    now_ts: int,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """WeChat (or a draining worker's peer) hung up as the answer was written: not a fault of ours.

    It was logged as "Error handling request" with a traceback, once per such request (up to a hundred at
    each shutdown under load). The delivery is still finished, and WeChat's retry gets the same answer.
    """

    async def hung_up(self: web.StreamResponse, data: bytes = b"") -> None:
        raise ClientConnectionResetError("Cannot write to closing transport")

    callback = plaintext_callback(account, text_xml("o-gone", "帮助", msg_id="3010"), timestamp=now_ts)
    with monkeypatch.context() as patched:
        patched.setattr(web.StreamResponse, "write_eof", hung_up)
        with caplog.at_level(logging.INFO), contextlib.suppress(ClientError):
            await client.post("/wechat", params=callback.params, data=callback.body)
        await client.app[ENDPOINT_KEY].background.drain()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("closed before the answer" in r.getMessage() for r in caplog.records)
    row = await _delivery(db)
    assert (row.state, row.delivered_via) == ("done", "inline")
    retry = await client.post("/wechat", params=callback.params, data=callback.body)
    assert (retry.status, read_reply(account, await retry.text()).get("MsgType")) == (200, "text")


async def test_failed_late_send_is_recorded_as_not_delivered(
    make_client: Any, services: Services, account: TestAccount, now_ts: int, api: RecordingWeChatAPI, db: Database
) -> None:
    services.settings = services.settings.with_overrides(reply_deadline=0.1)
    api.failure = RuntimeError("45015 out of window")
    release = asyncio.Event()

    async def slow(event: TextMessage, ctx: HandlerContext) -> Reply | None:
        await release.wait()
        return TextReply("迟到")

    client = await make_client(_dispatcher(slow))
    callback = plaintext_callback(account, text_xml("o-fail", "x", msg_id="3003"), timestamp=now_ts)
    assert await (await client.post("/wechat", params=callback.params, data=callback.body)).text() == "success"
    release.set()
    await client.app[ENDPOINT_KEY].background.drain()
    row = await _delivery(db)
    assert (row.state, row.delivered_via) == ("done", "none")


async def test_handler_exception_gets_a_polite_fallback(
    make_client: Any, account: TestAccount, now_ts: int, caplog: Any
) -> None:
    async def broken(event: TextMessage, ctx: HandlerContext) -> Reply | None:
        raise RuntimeError("template store is down")

    client = await make_client(_dispatcher(broken))
    callback = plaintext_callback(account, text_xml("o-err", "x", msg_id="3004"), timestamp=now_ts)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 200
    assert read_reply(account, await response.text())["Content"] == POLITE_FALLBACK
    assert any("msg_id=3004" in record.getMessage() for record in caplog.records if record.levelname == "ERROR")


async def test_interaction_hooks_run_after_the_reply_is_written(
    make_client: Any, services: Services, account: TestAccount, now_ts: int
) -> None:
    reply_written = asyncio.Event()
    seen: list[tuple[str, bool]] = []

    async def hook(ctx: HandlerContext, event: Inbound) -> None:
        seen.append((event.openid, reply_written.is_set()))

    async def failing_hook(ctx: HandlerContext, event: Inbound) -> None:
        raise RuntimeError("journeys unavailable")

    services.interaction_hooks[:] = [failing_hook, hook]
    client = await make_client()
    callback = plaintext_callback(account, text_xml("o-hook", "帮助", msg_id="3005"), timestamp=now_ts)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    await response.text()
    reply_written.set()
    await client.app[ENDPOINT_KEY].background.drain()
    # The failing hook is logged and does not stop the next one; both ran only after the answer.
    assert seen == [("o-hook", True)]


async def test_shutdown_waits_for_late_replies(
    make_client: Any, services: Services, account: TestAccount, now_ts: int, api: RecordingWeChatAPI
) -> None:
    services.settings = services.settings.with_overrides(reply_deadline=0.1)
    release = asyncio.Event()

    async def slow(event: TextMessage, ctx: HandlerContext) -> Reply | None:
        await release.wait()
        return TextReply("关机前送达")

    client = await make_client(_dispatcher(slow))
    callback = plaintext_callback(account, text_xml("o-bye", "x", msg_id="3006"), timestamp=now_ts)
    assert await (await client.post("/wechat", params=callback.params, data=callback.body)).text() == "success"
    asyncio.get_running_loop().call_soon(release.set)
    await client.close()  # runs on_shutdown / on_cleanup, which drain the late reply
    assert [payload["text"]["content"] for _appid, payload in api.sent] == ["关机前送达"]


async def test_health_and_readiness(client: Any) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["database"] == "ok"


async def test_readiness_fails_when_the_database_is_unreachable(aiohttp_client: Any) -> None:
    # A closed port rather than a missing SQLite file: aiosqlite reports a failed open from its worker
    # thread, which can outlive this test's event loop and surface as an error in the next test.
    unreachable = Database("postgresql+asyncpg://postgres@127.0.0.1:9/none")
    app = web.Application()
    app.router.add_routes(health_routes(unreachable, Probes()))
    client = await aiohttp_client(app)
    answer = await client.get("/readyz")
    assert answer.status == 503
    assert (await answer.json())["reasons"] == ["database unreachable"]
    assert (await client.get("/healthz")).status == 200
    await unreachable.dispose()


async def test_readiness_names_every_failing_check(services: Services, aiohttp_client: Any) -> None:
    healthy: list[str | None] = [None]

    async def scheduler() -> str | None:
        return healthy[0]

    services.probes.readiness.append(scheduler)
    client = await aiohttp_client(build_gateway_app(services, build_default_dispatcher()))
    assert (await client.get("/readyz")).status == 200
    healthy[0] = "scheduled jobs not ticking: dispatch_tick"
    answer = await client.get("/readyz")
    assert answer.status == 503
    assert (await answer.json())["reasons"] == ["scheduled jobs not ticking: dispatch_tick"]


async def test_metrics_count_callbacks_by_outcome(
    client: Any, account: TestAccount, now_ts: int, services: Services
) -> None:
    def answered(outcome: str) -> float:
        return REGISTRY.get_sample_value("scrm_callbacks_total", {"outcome": outcome}) or 0.0

    refreshed: list[bool] = []

    async def refresh() -> None:
        refreshed.append(True)

    services.probes.refreshers.append(refresh)
    before = {outcome: answered(outcome) for outcome in ("inline", "rejected")}
    callback = plaintext_callback(account, text_xml("oMetrics", "帮助", msg_id="424242"), timestamp=now_ts)
    assert (await client.post("/wechat", params=callback.params, data=callback.body)).status == 200
    assert (await client.post("/wechat?signature=bad&timestamp=1&nonce=n", data=b"<xml/>")).status == 403
    assert answered("inline") == before["inline"] + 1
    assert answered("rejected") == before["rejected"] + 1
    scrape = await client.get("/metrics")
    assert scrape.status == 200 and scrape.headers["Content-Type"].startswith("text/plain")
    body = await scrape.text()
    for name in (
        "scrm_callback_seconds_bucket",
        "scrm_pushes_total",
        "scrm_outbox_backlog",
        "scrm_domain_events_backlog",
        "scrm_scheduler_seconds_since_tick",
        "scrm_import_rows_processed",
    ):
        assert f"# TYPE {name.removesuffix('_bucket').removesuffix('_total')}" in body, name  # fmt: skip
    assert refreshed == [True]
