"""After the demo restarts, the sandbox page shows the followers and chats the database kept."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from publishing.versions import save_template
from sandbox.fake_wechat import FakeWeChat
from scrm.app import Sandbox, build_services, build_web_app
from storage.db import Database
from storage.models.core import Follower
from storage.models.pushes import Push
from tests.console.seed import TEXT_BODY

ENGLISH = {"Accept-Language": "en"}


async def _start(
    aiohttp_client: Callable[..., Any], settings: Settings, db: Database, clock: FakeClock
) -> tuple[Any, FakeWeChat]:
    """One run of the demo's server: a fresh fake WeChat and simulator, the same database."""
    fake = FakeWeChat(clock=clock)
    app = build_web_app(
        build_services(settings, db, clock), sandbox=Sandbox(fake, "http://127.0.0.1:9"), scheduler=False
    )
    return await aiohttp_client(app, headers=ENGLISH), fake


async def test_followers_and_chats_come_back_after_a_restart(
    aiohttp_client: Callable[..., Any], settings: Settings, db: Database, clock: FakeClock
) -> None:
    # Unique per run: the shared PostgreSQL test database may hold other runs' followers.
    settings = settings.with_overrides(wechat_appid="wx" + secrets.token_hex(8), demo=True)
    first, _fake = await _start(aiohttp_client, settings, db, clock)
    created = await first.post("/sandbox/api/followers", json={"label": "Alice", "openid": "o-restored"})
    assert created.status == 201
    for action in ({"action": "follow", "scene": "store_hz"}, {"action": "text", "content": "你好，在吗"}):
        answer = await first.post("/sandbox/api/followers/o-restored/actions", json={**action, "mode": "plaintext"})
        assert answer.status == 200, await answer.text()
    before = (await (await first.get("/sandbox/api/followers/o-restored/chat")).json())["entries"]
    # A push the journeys sent before the restart, as the outbox recorded it.
    async with db.transaction() as session:
        follower = (await session.exec(select(Follower).where(Follower.openid == "o-restored"))).one()
        saved = await save_template(session, "restore_welcome", TEXT_BODY, now=clock.now(), by="test")
        assert follower.id is not None and saved.version.id is not None
        session.add(
            Push(
                follower_id=follower.id,
                appid=settings.wechat_appid,
                openid="o-restored",
                template_version_id=saved.version.id,
                due_at=clock.now(),
                status="sent",
                sent_at=clock.now(),
                created_at=clock.now(),
                step_key="hello",
            )  # fmt: skip
        )
    await first.close()

    second, fake = await _start(aiohttp_client, settings, db, clock)
    state = await (await second.get("/sandbox/api/state")).json()
    assert [(f["openid"], f["subscribed"]) for f in state["followers"]] == [("o-restored", True)]
    entries = (await (await second.get("/sandbox/api/followers/o-restored/chat")).json())["entries"]
    texts = [entry["text"] for entry in entries]
    # What the follower did and what the account answered, as before the restart.
    assert [e["text"] for e in before if e["source"] in ("you", "reply")] == [
        e["text"] for e in entries if e["source"] in ("you", "reply")
    ]
    assert "followed the account through QR code “store_hz”" in texts and "你好，在吗" in texts
    pushed = [entry for entry in entries if entry["source"] == "push"]
    assert [entry["text"] for entry in pushed] == ["朋友，欢迎回来！"]
    assert "restored from the database after a restart" in pushed[0]["detail"]
    # The new fake WeChat knows the follower again (user/info, the 43004 rule) and the window they opened.
    assert fake.followers["o-restored"].subscribed and fake.followers["o-restored"].scene == "store_hz"
    assert fake.windows.states["o-restored"].last_message_at is not None


async def test_the_restored_chat_reads_in_chinese_by_default(
    aiohttp_client: Callable[..., Any], settings: Settings, db: Database, clock: FakeClock
) -> None:
    settings = settings.with_overrides(wechat_appid="wx" + secrets.token_hex(8), demo=True)
    first, _fake = await _start(aiohttp_client, settings, db, clock)
    await first.post("/sandbox/api/followers", json={"openid": "o-zh"})
    await first.post("/sandbox/api/followers/o-zh/actions", json={"action": "follow", "mode": "plaintext"})
    await first.close()
    second, _fake = await _start(aiohttp_client, settings, db, clock)
    chat = await second.get("/sandbox/api/followers/o-zh/chat", headers={"Accept-Language": "zh-CN"})
    texts = [entry["text"] for entry in (await chat.json())["entries"]]
    assert "关注了公众号" in texts
