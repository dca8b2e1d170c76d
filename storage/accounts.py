"""The official accounts a deployment serves: which one the console acts for, and its kind."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.core import Account


async def account_kind(session: AsyncSession, appid: str) -> str:
    """`service` or `subscription`; an account only configured in the settings counts as a service account."""
    kind = (await session.exec(select(Account.kind).where(Account.appid == appid))).first()
    return kind or "service"


async def default_appid(session: AsyncSession, fallback: str) -> str:
    """The account the console acts for: the one marked default, else the first, else `fallback` (settings)."""
    statement = select(Account.appid).order_by(col(Account.is_default).desc(), col(Account.id)).limit(1)
    return (await session.exec(statement)).first() or fallback


__all__ = ["account_kind", "default_appid"]
