from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from base.clock import FakeClock
from base.settings import Settings
from handlers.context import HandlerContext, Services
from handlers.middlewares import DEFAULT_MIDDLEWARES, errors
from handlers.router import CallNext, Dispatcher, Router, key_is, text_in
from storage.db import Database
from storage.group_commit import group_commit
from storage.models.core import Account
from wechat.events import Inbound, build_event
from wechat.replies import Reply, TextReply

BASE = {"ToUserName": "gh_1", "FromUserName": "o_1", "CreateTime": "1700000000"}


def _ctx(db: Database) -> HandlerContext:
    return HandlerContext(
        services=Services(db=db, settings=Settings(), clock=FakeClock()), account=Account(appid="wx1")
    )


async def test_first_matching_route_wins_and_children_come_after(db: Database) -> None:
    parent, child = Router("parent"), Router("child")

    @parent.on("text", text_in("绑定"))
    async def bind(event: Any, ctx: HandlerContext) -> Reply | None:
        return TextReply("bind")

    @child.on("text")
    async def any_text(event: Any, ctx: HandlerContext) -> Reply | None:
        return TextReply("any")

    @child.on("event.click", key_is("MENU_A"))
    async def menu(event: Any, ctx: HandlerContext) -> Reply | None:
        return TextReply("menu")

    parent.include(child)
    dispatcher = Dispatcher(parent)
    text = build_event({**BASE, "MsgType": "text", "Content": " 绑定 ", "MsgId": "1"})
    other = build_event({**BASE, "MsgType": "text", "Content": "hello", "MsgId": "2"})
    click_b = build_event({**BASE, "MsgType": "event", "Event": "CLICK", "EventKey": "MENU_B"})
    assert await dispatcher.feed(text, _ctx(db)) == TextReply("bind")
    assert await dispatcher.feed(other, _ctx(db)) == TextReply("any")
    assert await dispatcher.feed(click_b, _ctx(db)) is None


async def test_a_route_added_to_a_child_after_events_were_resolved_still_answers(db: Database) -> None:
    # Routes are indexed by event key once resolved; a route registered later (a plugin loaded after
    # the first callback) must still be found, in its place in the order.
    parent, child = Router("parent"), Router("child")
    parent.include(child)

    @parent.on("*", lambda event, _ctx: event.key == "event.click")
    async def clicks(event: Any, ctx: HandlerContext) -> Reply | None:
        return TextReply("click")

    dispatcher = Dispatcher(parent)
    hello = build_event({**BASE, "MsgType": "text", "Content": "hello", "MsgId": "3"})
    assert await dispatcher.feed(hello, _ctx(db)) is None

    async def later_filter(event: Any, _ctx: HandlerContext) -> bool:
        return bool(event.content == "hello")

    @child.on("text", later_filter)
    async def greet(event: Any, ctx: HandlerContext) -> Reply | None:
        return TextReply("hi")

    @parent.on("text", text_in("bye"))
    async def parent_text(event: Any, ctx: HandlerContext) -> Reply | None:
        return TextReply("parent")

    bye = build_event({**BASE, "MsgType": "text", "Content": "bye", "MsgId": "4"})
    assert await dispatcher.feed(hello, _ctx(db)) == TextReply("hi")
    assert await dispatcher.feed(bye, _ctx(db)) == TextReply("parent")  # the parent's own routes come first
    click = build_event({**BASE, "MsgType": "event", "Event": "CLICK", "EventKey": "MENU_A"})
    assert await dispatcher.feed(click, _ctx(db)) == TextReply("click")


async def test_middlewares_run_outermost_first(db: Database) -> None:
    seen: list[str] = []
    router = Router("r")

    @router.on("*")
    async def handler(event: Any, ctx: HandlerContext) -> Reply | None:
        seen.append("handler")
        return None

    def named(name: str) -> Any:
        async def middleware(event: Inbound, ctx: HandlerContext, call_next: CallNext) -> Reply | None:
            seen.append(f"{name}>")
            result = await call_next(event, ctx)
            seen.append(f"<{name}")
            return result

        return middleware

    await Dispatcher(router, [named("errors"), named("session")]).feed(
        build_event({**BASE, "MsgType": "image", "MsgId": "3"}), _ctx(db)
    )
    assert seen == ["errors>", "session>", "handler", "<session", "<errors"]


async def test_the_follower_write_goes_with_the_claim_only_when_its_middleware_is_in_the_chain(db: Database) -> None:
    text = build_event({**BASE, "MsgType": "text", "Content": "hi", "MsgId": "9"})
    at = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    assert Dispatcher(Router("bare"), [errors]).write_with_claim(text, "wx1", at) is None
    write = Dispatcher(Router("full"), DEFAULT_MIDDLEWARES).write_with_claim(text, "wx1", at)
    assert write is not None
    record = await group_commit(db).run(write)
    assert record.values["openid"] == "o_1"
    assert record.values["appid"] == "wx1"
