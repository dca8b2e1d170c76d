"""The assembled application: gateway, console and sandbox in one server, with the demo's seed data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from base.clock import FakeClock
from base.settings import Settings
from sandbox.fake_wechat import FakeWeChat
from scrm.app import Sandbox, build_services, build_web_app
from scrm.demo import DEMO_ACCOUNT, seed_demo
from storage.db import Database
from storage.models.console import ConsoleUser
from storage.models.core import Follower, Profile
from storage.models.orders import ImportRun, Order
from tests.support.wechat import TestAccount, event_xml, read_reply, safe_callback, text_xml


@pytest.fixture
def demo_settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, demo=True).with_overrides(
        **DEMO_ACCOUNT, wechat_api_base="http://127.0.0.1:9/fake-wechat"
    )


async def test_demo_seed_is_idempotent(
    db: Database, demo_settings: Settings, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = await seed_demo(db, demo_settings, clock)
    assert "password" in first
    assert "password" in (tmp_path / "scrm-demo-login.txt").read_text(encoding="utf-8")
    await seed_demo(db, demo_settings, clock)
    async with db.session() as session:
        assert (await session.exec(select(func.count()).select_from(ImportRun))).one() == 1
        assert (await session.exec(select(func.count()).select_from(ConsoleUser))).one() == 1
        orders = (await session.exec(select(func.count()).select_from(Order))).one()
        profiles = (await session.exec(select(func.count()).select_from(Profile))).one()
    assert orders == 240
    # Masked and relay numbers never create profiles, so there are fewer profiles than orders.
    assert 0 < profiles < orders


async def test_follow_and_bind_through_the_whole_application(
    aiohttp_client: Callable[..., Any],
    db: Database,
    demo_settings: Settings,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    await seed_demo(db, demo_settings, clock)
    services = build_services(demo_settings, db, clock)
    app = build_web_app(services, sandbox=Sandbox(FakeWeChat(), "http://127.0.0.1:9"), scheduler=False)
    client = await aiohttp_client(app)
    account = TestAccount.from_settings(demo_settings)
    stamp = int(clock.now().timestamp())

    follow = safe_callback(
        account, event_xml("o_app_1", "subscribe", event_key="qrscene_store_sh01", create_time=stamp), timestamp=stamp
    )
    response = await client.post("/wechat", params=follow.params, data=follow.body)
    assert response.status == 200
    welcome = read_reply(account, await response.text())
    assert welcome["MsgType"] == "text" and "茶语" in welcome["Content"]

    bind = safe_callback(account, text_xml("o_app_1", "绑定", msg_id="11", create_time=stamp + 1), timestamp=stamp)
    asked = read_reply(account, await (await client.post("/wechat", params=bind.params, data=bind.body)).text())
    assert "手机号" in asked["Content"]

    async with db.session() as session:
        follower = (await session.exec(select(Follower).where(Follower.openid == "o_app_1"))).one()
    assert follower.channel_scene == "store_sh01" and follower.last_message_at is not None

    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    assert (await client.get("/sandbox/")).status == 200
    console = await client.get("/console/", allow_redirects=False)
    assert console.status in (302, 303) and "login" in console.headers["Location"]
