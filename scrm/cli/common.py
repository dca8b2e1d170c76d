"""Helpers shared by command modules: settings, database, running a coroutine, printing JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from base.settings import Settings, load_settings
from storage.db import Database
from storage.migrate import upgrade_async

T = TypeVar("T")


def settings_for(require_wechat: bool = False) -> Settings:
    return load_settings(require_wechat=require_wechat)


def run(coro: Awaitable[T]) -> T:
    async def wrapper() -> T:
        return await coro

    return asyncio.run(wrapper())


async def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """Open the configured database, applying migrations first so every command sees the current schema."""
    if migrate:
        await upgrade_async(settings.database_url)
    return Database(settings.database_url)


def with_database(fn: Callable[[Database, Settings], Awaitable[int]], settings: Settings | None = None) -> int:
    """Run `fn(db, settings)` against a migrated database and close it afterwards."""
    resolved = settings or settings_for()

    async def main() -> int:
        db = await open_database(resolved)
        try:
            return await fn(db, resolved)
        finally:
            await db.dispose()

    return asyncio.run(main())


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
