"""The official accounts as stored (`accounts`): looked up by appid, the default one, the list."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.core import Account


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
