"""A delivery opens a database session only when its handler needs one, and loses nothing when it does not."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import FakeClock
from gateway.app import ENDPOINT_KEY
from handlers.context import HandlerContext
from handlers.middlewares import DEFAULT_MIDDLEWARES
from handlers.router import Dispatcher, Router
from storage.db import Database
from storage.models.core import Follower
from tests.support.wechat import TestAccount, plaintext_callback, read_reply, text_xml
from wechat.events import TextMessage
from wechat.replies import Reply, TextReply


@pytest.fixture
def sessions(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[AsyncSession]:
    """Every session the database hands out from now on."""
    opened: list[AsyncSession] = []
    original = db.session

    def counting() -> AsyncSession:
        session = original()
        opened.append(session)
        return session

    monkeypatch.setattr(db, "session", counting)
    return opened


async def _ask(make_client: Any, router: Router, account: TestAccount, clock: FakeClock, text: str) -> str:
    client = await make_client(Dispatcher(router, DEFAULT_MIDDLEWARES))
    xml = text_xml("o-lazy", text, msg_id="5001")
    callback = plaintext_callback(account, xml, timestamp=int(clock.now().timestamp()))
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 200
    body = await response.text()
    await client.app[ENDPOINT_KEY].background.drain()
    return read_reply(account, body)["Content"]


async def _follower(db: Database) -> Follower:
    async with db.session() as session:
        return (await session.exec(select(Follower).where(Follower.openid == "o-lazy"))).one()


async def test_a_reply_that_needs_no_database_opens_no_session_and_still_records_the_interaction(
    make_client: Any, account: TestAccount, clock: FakeClock, db: Database, sessions: list[AsyncSession]
) -> None:
    router = Router("plain")

    @router.on("text")
    async def echo(event: TextMessage, ctx: HandlerContext) -> Reply | None:
        return TextReply(f"收到：{event.content}")

    assert await _ask(make_client, router, account, clock, "你好") == "收到：你好"
    assert sessions == []
    follower = await _follower(db)
    assert follower.last_message_at == clock.now() and follower.last_interaction_kind == "text"


async def test_a_change_to_the_follower_alone_is_committed(
    make_client: Any, account: TestAccount, clock: FakeClock, db: Database, sessions: list[AsyncSession]
) -> None:
    router = Router("tagging")

    @router.on("text")
    async def tag(event: TextMessage, ctx: HandlerContext) -> Reply | None:
        ctx.require_follower().tags = ["vip"]
        return TextReply("已标记")

    assert await _ask(make_client, router, account, clock, "标记") == "已标记"
    assert len(sessions) == 1
    assert (await _follower(db)).tags == ["vip"]


async def test_a_failed_handler_loses_its_changes_but_not_the_interaction(
    make_client: Any, account: TestAccount, clock: FakeClock, db: Database
) -> None:
    router = Router("failing")

    @router.on("text")
    async def fail(event: TextMessage, ctx: HandlerContext) -> Reply | None:
        ctx.require_follower().tags = ["never"]
        await ctx.require_session().flush()
        raise RuntimeError("handler bug")

    assert await _ask(make_client, router, account, clock, "出错") == "抱歉，系统开小差了，请稍后再试。"
    follower = await _follower(db)
    assert follower.tags == [] and follower.last_message_at == clock.now()
