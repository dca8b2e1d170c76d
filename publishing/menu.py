"""Editing the account's custom menu and publishing it through WeChat's menu API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from content.menu import Menu, parse_menu
from storage.db import Database
from storage.menus import custom_menu, mark_menu_published, save_custom_menu
from wechat.api.client import WeChatAPI


async def save_menu(db: Database, appid: str, doc: Any, *, by: str, now: datetime) -> Menu:
    """Check the menu against WeChat's rules (MenuError lists what is wrong) and keep it as the draft."""
    menu = parse_menu(doc)
    async with db.transaction() as session:
        await save_custom_menu(session, appid, menu.to_wechat(), by=by, now=now)
    return menu


async def publish_menu(db: Database, api: WeChatAPI, appid: str, *, by: str, now: datetime) -> Menu:
    """Send the saved menu to WeChat (/cgi-bin/menu/create) and record it as published.

    Raises LookupError when no menu was saved, MenuError when the saved one no longer passes the rules,
    and the API client's errors when WeChat refuses it (nothing is marked published then).
    """
    async with db.session() as session:
        row = await custom_menu(session, appid)
    if row is None:
        raise LookupError(f"no custom menu saved for {appid}")
    menu = parse_menu(row.menu)
    await api.create_menu(appid, menu.to_wechat())
    async with db.transaction() as session:
        await mark_menu_published(session, appid, menu.to_wechat(), by=by, now=now)
    return menu


async def published_menu(db: Database, appid: str) -> Menu | None:
    """The menu WeChat shows followers, as last published from here (the sandbox draws it)."""
    async with db.session() as session:
        row = await custom_menu(session, appid)
    return parse_menu(row.published) if row is not None and row.published else None


__all__ = ["publish_menu", "published_menu", "save_menu"]
