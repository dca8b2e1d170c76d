"""The content-backed reply book: welcome per scene, keywords, menus, scans, help, cache refresh."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import content
import publishing.replybook
from base.clock import FakeClock
from content.loader import read_content_dir
from content.templates import render_body
from handlers.replybook import ReplyBook
from publishing.publish import load_bundle
from publishing.replybook import ContentReplyBook
from publishing.versions import save_template
from storage.db import Database
from storage.models.core import Follower, Profile
from wechat.replies import NewsReply, TextReply

SEED = Path(content.__file__).parent / "seed"
APPID = "wx1234567890abcdef"
STORE_TEMPLATE = "kw_stores"  # the seed template answering 店铺, 门店, 旗舰店


@pytest.fixture
async def book(db: Database, clock: FakeClock) -> ContentReplyBook:
    async with db.transaction() as session:
        await load_bundle(session, read_content_dir(SEED), now=clock.now())
    return ContentReplyBook(db, clock)


def _text(reply: object) -> str:
    assert isinstance(reply, TextReply)
    return reply.content


async def test_it_follows_the_handlers_protocol(book: ContentReplyBook) -> None:
    assert isinstance(book, ReplyBook)


async def test_welcome_uses_the_followers_profile_and_the_scene(
    db: Database, clock: FakeClock, book: ContentReplyBook
) -> None:
    async with db.transaction() as session:
        profile = Profile(
            phone_key="+8613800138000",
            phone_sealed="+8613800138000",
            name="李女士",
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(profile)
        await session.flush()
        follower = Follower(
            appid=APPID, openid="o1", profile_id=profile.id, created_at=clock.now(), updated_at=clock.now()
        )
        session.add(follower)
    assert _text(await book.welcome(APPID, follower, None)).startswith("李女士，欢迎来到茶语 CHAYU！")
    stranger = Follower(appid=APPID, openid="o2", created_at=clock.now(), updated_at=clock.now())
    assert _text(await book.welcome(APPID, stranger, None)).startswith("你好，欢迎来到茶语")
    assert _text(await book.welcome(APPID, stranger, "store_shanghai")).startswith("欢迎从茶语门店来到这里")
    assert _text(await book.welcome(APPID, stranger, "unknown_scene")).startswith("你好，欢迎")


async def test_keywords_menus_scans_and_help(book: ContentReplyBook) -> None:
    assert "新客券" in _text(await book.keyword(APPID, "请问有 优惠券 吗"))
    assert "chayu.jd.com" in _text(await book.keyword(APPID, "旗舰店"))
    assert await book.keyword(APPID, "今天天气不错") is None
    story = await book.menu(APPID, "MENU_STORY")
    assert isinstance(story, NewsReply) and "山茶花" in story.articles[0].title
    assert await book.menu(APPID, "NO_SUCH_KEY") is None
    assert "肌肤测试" in _text(await book.scan(APPID, "store_hangzhou"))
    assert await book.scan(APPID, "elsewhere") is None
    assert "「绑定」" in _text(await book.help(APPID))


async def test_without_content_the_book_has_nothing_and_leaves_the_built_in_help_to_the_handlers(
    db: Database, clock: FakeClock
) -> None:
    empty = ContentReplyBook(db, clock)
    assert await empty.welcome(APPID, Follower(appid=APPID, openid="o"), None) is None
    assert await empty.help(APPID) is None


@pytest.mark.storage
async def test_the_cache_refreshes_on_load_and_after_its_ttl(
    db: Database, clock: FakeClock, book: ContentReplyBook
) -> None:
    assert "「绑定」" in _text(await book.help(APPID))
    async with db.transaction() as session:
        # Written as another process would: nothing tells this process's cache.
        await save_template(session, "help_text", {"kind": "text", "content": "新的帮助"}, now=clock.now())
    assert "「绑定」" in _text(await book.help(APPID))
    clock.advance(timedelta(seconds=31))
    assert _text(await book.help(APPID)) == "新的帮助"
    async with db.transaction() as session:
        await load_bundle(session, read_content_dir(SEED), now=clock.now())  # this process: refresh at once
    assert "「绑定」" in _text(await book.help(APPID))


async def test_a_reply_for_nobody_in_particular_is_rendered_once_until_content_changes(
    db: Database, clock: FakeClock, book: ContentReplyBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[str] = []
    real = render_body

    def counting(body: Any, context: Any) -> Any:
        rendered.append("x")
        return real(body, context)

    monkeypatch.setattr(publishing.replybook, "render_body", counting)
    for _ in range(3):
        assert "chayu.jd.com" in _text(await book.keyword(APPID, "旗舰店"))
    assert len(rendered) == 1
    async with db.transaction() as session:
        await save_template(session, STORE_TEMPLATE, {"kind": "text", "content": "京东店已搬家"}, now=clock.now())
    book.invalidate()  # what loading content does in this process; other processes reload within the TTL
    assert _text(await book.keyword(APPID, "旗舰店")) == "京东店已搬家"
    assert len(rendered) == 2
