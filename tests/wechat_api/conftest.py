"""Fixtures: a FakeWeChat sharing the test's clock, and a WeChatAPI client pointed at it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from base.clock import FakeClock
from base.settings import Settings
from sandbox.fake_wechat import FakeWeChat
from storage.db import Database
from wechat.api import WeChatAPI

# Unique per test run: other engineers' PostgreSQL test runs share the database (and the `settings`
# fixture's appid), so a shared token row could be refreshed or leased by their tests mid-way.
APPID = "wx" + secrets.token_hex(8)
SECRET = "secret"


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeWeChat]:
    async with FakeWeChat({APPID: SECRET}, clock=clock) as server:
        yield server


@pytest.fixture
def api_settings(settings: Settings, fake: FakeWeChat) -> Settings:
    return settings.with_overrides(wechat_api_base=fake.base_url, wechat_appid=APPID)


@pytest.fixture
async def api(api_settings: Settings, db: Database, clock: FakeClock) -> AsyncIterator[WeChatAPI]:
    async with WeChatAPI(api_settings, db, clock) as client:
        yield client
