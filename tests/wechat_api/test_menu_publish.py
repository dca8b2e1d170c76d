"""The menu is saved, then published through the menu API; the sandbox's fake WeChat then shows it."""

from __future__ import annotations

import pytest

from base.clock import FakeClock
from content.menu import MenuError
from publishing.menu import publish_menu, published_menu, save_menu
from sandbox.fake_wechat import FakeWeChat
from storage.db import Database
from tests.wechat_api.conftest import APPID
from wechat.api.client import WeChatAPI

pytestmark = pytest.mark.storage

MENU = {
    "button": [
        {"type": "click", "name": "品牌故事", "key": "MENU_STORY"},
        {"type": "view", "name": "官方商城", "url": "https://shop.example.com/"},
    ]
}


async def test_save_then_publish(db: Database, api: WeChatAPI, fake: FakeWeChat, clock: FakeClock) -> None:
    with pytest.raises(LookupError):
        await publish_menu(db, api, APPID, by="ana", now=clock.now())
    await save_menu(db, APPID, MENU, by="ana", now=clock.now())
    assert await published_menu(db, APPID) is None  # saved is not published
    await publish_menu(db, api, APPID, by="ana", now=clock.now())
    assert fake.menu_clicks(APPID) == [{"name": "品牌故事", "key": "MENU_STORY"}]
    published = await published_menu(db, APPID)
    assert published is not None and published.to_wechat() == MENU


async def test_a_broken_menu_is_not_saved(db: Database, api: WeChatAPI, fake: FakeWeChat, clock: FakeClock) -> None:
    await save_menu(db, APPID, MENU, by="ana", now=clock.now())
    with pytest.raises(MenuError):
        await save_menu(db, APPID, {"button": [{"type": "click", "name": "x"}]}, by="ana", now=clock.now())
    await publish_menu(db, api, APPID, by="ana", now=clock.now())
    assert fake.calls_to("menu/create")[-1].json == MENU
