"""The official accounts a deployment serves (`accounts`): looked up by appid, the default one, the list,
which one the console acts for, and its kind."""

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


async def account_by_appid(session: AsyncSession, appid: str) -> Account | None:
    return (await session.exec(select(Account).where(Account.appid == appid))).first()


async def default_accounts(session: AsyncSession) -> list[Account]:
    """The accounts marked default (one, unless an edit is half done)."""
    return list((await session.exec(select(Account).where(col(Account.is_default).is_(True)))).all())


async def accounts_by_appid(session: AsyncSession) -> list[Account]:
    return list((await session.exec(select(Account).order_by(col(Account.appid)))).all())


async def appids_with_secret(session: AsyncSession) -> list[str]:
    """The accounts that have an appsecret, in the order they were added."""
    statement = select(Account.appid).where(col(Account.appsecret) != "").order_by(col(Account.id))
    return list((await session.exec(statement)).all())


__all__ = [
    "account_by_appid",
    "account_kind",
    "accounts_by_appid",
    "appids_with_secret",
    "default_accounts",
    "default_appid",
]
