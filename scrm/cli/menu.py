"""`scrm menu show|set|publish`: the account's custom menu."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from base.clock import SystemClock, real_clock
from base.settings import Settings
from content.menu import MenuError
from publishing.menu import publish_menu, save_menu
from scrm.cli.common import print_json, settings_for, with_database
from scrm.cli.main import UsageError
from storage.db import Database
from storage.menus import custom_menu
from wechat.api.client import WeChatAPI
from wechat.api.errors import WeChatError


def register(subparsers: Any) -> None:
    menu = subparsers.add_parser("menu", help="the account's custom menu")
    actions = menu.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    show = actions.add_parser("show", help="the saved menu and the one last published")
    show.add_argument("--appid", default="")
    show.set_defaults(run=_show)
    put = actions.add_parser("set", help="save a menu from a YAML or JSON file (checked, not yet published)")
    put.add_argument("file", type=Path)
    put.add_argument("--appid", default="")
    put.set_defaults(run=_set)
    publish = actions.add_parser("publish", help="send the saved menu to WeChat")
    publish.add_argument("--appid", default="")
    publish.set_defaults(run=_publish)


def _appid(args: argparse.Namespace, settings: Settings) -> str:
    appid: str = args.appid or settings.wechat_appid
    if not appid:
        raise UsageError("--appid is required when WECHAT_APPID is not set")
    return appid


def _show(args: argparse.Namespace) -> int:
    settings = settings_for()
    appid = _appid(args, settings)

    async def show(db: Database, _settings: Settings) -> int:
        async with db.session() as session:
            row = await custom_menu(session, appid)
        if row is None:
            print_json({"appid": appid, "menu": None, "published": None})
            return 0
        published_at = row.published_at.isoformat() if row.published_at else None
        print_json({"appid": appid, "menu": row.menu, "published": row.published, "published_at": published_at})
        return 0

    return with_database(show, settings)


def _set(args: argparse.Namespace) -> int:
    settings = settings_for()
    appid = _appid(args, settings)
    try:
        doc = yaml.safe_load(args.file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise UsageError(f"cannot read {args.file}: {error}") from None

    async def put(db: Database, _settings: Settings) -> int:
        try:
            menu = await save_menu(db, appid, doc, by="cli", now=SystemClock().now())
        except MenuError as error:
            raise UsageError(f"the menu was not saved: {error}") from None
        print(f"menu saved for {appid}: {len(menu.buttons)} buttons; publish it with 'scrm menu publish'")
        return 0

    return with_database(put, settings)


def _publish(args: argparse.Namespace) -> int:
    settings = settings_for(require_wechat=True)
    appid = _appid(args, settings)

    async def publish(db: Database, settings: Settings) -> int:
        clock = SystemClock()
        api = WeChatAPI(settings, db, real_clock(clock))
        try:
            await publish_menu(db, api, appid, by="cli", now=clock.now())
        except (LookupError, MenuError, WeChatError) as error:
            raise UsageError(f"the menu was not published: {error}") from None
        finally:
            await api.close()
        print(f"menu published for {appid}")
        return 0

    return with_database(publish, settings)
