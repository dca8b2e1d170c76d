"""The account's custom menu, as edited and as published."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.engagement import CustomMenu


async def custom_menu(session: AsyncSession, appid: str) -> CustomMenu | None:
    return await session.get(CustomMenu, appid)


async def save_custom_menu(
    session: AsyncSession, appid: str, menu: dict[str, Any], *, by: str, now: datetime
) -> CustomMenu:
    """Keep the edited menu (not yet published); the caller commits."""
    row = await session.get(CustomMenu, appid) or CustomMenu(appid=appid, updated_at=now)
    row.menu, row.updated_by, row.updated_at = menu, by, now
    session.add(row)
    return row


async def mark_menu_published(
    session: AsyncSession, appid: str, menu: dict[str, Any], *, by: str, now: datetime
) -> None:
    row = await session.get(CustomMenu, appid) or CustomMenu(appid=appid, menu=menu, updated_by=by, updated_at=now)
    row.published, row.published_by, row.published_at = menu, by, now
    session.add(row)


__all__ = ["custom_menu", "mark_menu_published", "save_custom_menu"]
