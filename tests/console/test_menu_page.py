"""The custom menu editor: WeChat's rules checked with every problem shown next to the editor; admins only."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from storage.db import Database
from storage.menus import custom_menu
from tests.console.conftest import csrf

APPID = "wx1234567890abcdef"
BAD = """button:
  - name: 一个很长很长的按钮名称
    type: click
    key: A
  - name: 链接
    type: view
    url: ftp://example.com/
"""
GOOD = """button:
  - name: 品牌故事
    type: click
    key: STORY
"""


async def test_problems_are_listed_inline_and_nothing_is_saved(admin: TestClient[Any, Any], db: Database) -> None:
    answer = await admin.post("/console/menu", data={"csrf_token": csrf(admin), "menu": BAD, "action": "save"})
    page = await answer.text()
    assert answer.status == 400
    assert "The menu was not saved:" in page
    assert "button 1 (一个很长很长的按钮名称): the name is 33 bytes, at most 16" in page
    assert "button 2 (链接): a view button needs an http(s) URL" in page
    assert "ftp://example.com/" in page  # the typed text stays in the editor
    broken = await admin.post("/console/menu", data={"csrf_token": csrf(admin), "menu": "button: [", "action": "save"})
    assert broken.status == 400 and "This is not valid YAML or JSON (line 1)." in await broken.text()
    async with db.session() as session:
        assert await custom_menu(session, APPID) is None


async def test_a_saved_draft_is_kept_and_publishing_needs_the_api(admin: TestClient[Any, Any], db: Database) -> None:
    answer = await admin.post("/console/menu", data={"csrf_token": csrf(admin), "menu": GOOD, "action": "save"})
    assert answer.status == 200 and "Saved." in await answer.text()
    async with db.session() as session:
        row = await custom_menu(session, APPID)
    assert row is not None and row.menu == {"button": [{"type": "click", "name": "品牌故事", "key": "STORY"}]}
    assert row.published is None
    # This console has no WeChat API client: it says so rather than pretending it published.
    answer = await admin.post("/console/menu", data={"csrf_token": csrf(admin), "menu": GOOD, "action": "publish"})
    assert answer.status == 503 and "No WeChat API client is configured" in await answer.text()


async def test_editors_cannot_change_the_menu(editor: TestClient[Any, Any]) -> None:
    assert (await editor.get("/console/menu")).status == 403
    answer = await editor.post("/console/menu", data={"csrf_token": csrf(editor), "menu": GOOD})
    assert answer.status == 403
