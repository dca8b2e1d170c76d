"""Where the client finds each account's appid and appsecret.

The default account comes from Settings (WECHAT_APPID / WECHAT_APPSECRET); every other account from the
`accounts` table, which the console edits. Secrets are only read when a token must be fetched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from base.settings import Settings
from storage.accounts import account_by_appid, appids_with_secret
from storage.db import Database
from wechat.api.errors import UnknownAccount


@dataclass(frozen=True)
class AccountCredentials:
    """What a token fetch needs; the secret never shows in reprs or logs."""

    appid: str
    appsecret: str = field(repr=False)


class CredentialSource(Protocol):
    """Gives the credentials of one account, and the list of accounts whose tokens to keep fresh."""

    async def credentials(self, appid: str) -> AccountCredentials:
        """The credentials of `appid`; raises UnknownAccount when it has no appsecret."""
        ...

    async def appids(self) -> list[str]:
        """Every account that has an appsecret, default account first."""
        ...


class SettingsAndAccounts:
    """The default account from Settings, the others from the `accounts` table."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self._settings = settings
        self._db = db

    async def credentials(self, appid: str) -> AccountCredentials:
        if appid == self._settings.wechat_appid and self._settings.wechat_appsecret:
            return AccountCredentials(appid, self._settings.wechat_appsecret)
        async with self._db.session() as session:
            account = await account_by_appid(session, appid)
        if account is None or not account.appsecret:
            raise UnknownAccount(
                f"no appsecret for {appid!r}: set WECHAT_APPSECRET for the default account, "
                "or the account's appsecret in the console"
            )
        return AccountCredentials(account.appid, account.appsecret)

    async def appids(self) -> list[str]:
        found: list[str] = []
        if self._settings.wechat_appid and self._settings.wechat_appsecret:
            found.append(self._settings.wechat_appid)
        async with self._db.session() as session:
            found.extend(appid for appid in await appids_with_secret(session) if appid not in found)
        return found


class StaticCredentials:
    """A fixed set of accounts (tools, benchmarks and tests that have no accounts table to read)."""

    def __init__(self, *accounts: AccountCredentials) -> None:
        self._accounts = {account.appid: account for account in accounts}

    async def credentials(self, appid: str) -> AccountCredentials:
        try:
            return self._accounts[appid]
        except KeyError:
            raise UnknownAccount(f"no appsecret for {appid!r}") from None

    async def appids(self) -> list[str]:
        return list(self._accounts)
