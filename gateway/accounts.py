"""Which official account a callback is for, and its secrets, cached per process.

The default account (`/wechat`) comes from Settings (WECHAT_APPID/TOKEN/AES_KEY) or, when Settings name
none, from the `accounts` row marked default. Other accounts (`/wechat/{appid}`) come from the
`accounts` table. Lookups are cached for `ttl` seconds so a callback costs no query for its account; a
changed secret is picked up after at most `ttl` (or at once through `forget`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from base.settings import Settings
from storage.accounts import account_by_appid, default_accounts
from storage.db import Database
from storage.models.core import Account
from wechat.crypto import AccountCrypto

log = logging.getLogger("scrm.gateway.accounts")

DEFAULT = ""  # the cache key of the default account


@dataclass(frozen=True)
class ServedAccount:
    """An account and, when it has an EncodingAESKey, its safe-mode crypto."""

    account: Account
    crypto: AccountCrypto | None

    @property
    def appid(self) -> str:
        return self.account.appid

    @property
    def token(self) -> str:
        return self.account.token


def _serve(account: Account) -> ServedAccount:
    crypto = AccountCrypto(account.token, account.aes_key, account.appid) if account.aes_key else None
    return ServedAccount(account, crypto)


class AccountDirectory:
    """Finds the account of a callback; one per process, shared by every request."""

    def __init__(self, db: Database, settings: Settings, *, ttl: float = 60.0) -> None:
        self._db = db
        self._ttl = ttl
        self._cache: dict[str, tuple[float, ServedAccount | None]] = {}
        self._from_settings: ServedAccount | None = None
        if settings.wechat_appid and settings.wechat_token:
            self._from_settings = _serve(
                Account(
                    appid=settings.wechat_appid,
                    token=settings.wechat_token,
                    aes_key=settings.wechat_aes_key,
                    appsecret=settings.wechat_appsecret,
                    is_default=True,
                    name="default",
                    created_at=datetime.now(UTC),
                )
            )

    async def default(self) -> ServedAccount | None:
        """The account served on `/wechat`, or None when none is configured."""
        if self._from_settings is not None:
            return self._from_settings
        return await self._cached(DEFAULT)

    async def by_appid(self, appid: str) -> ServedAccount | None:
        """The account served on `/wechat/{appid}`, or None when this deployment does not serve it."""
        if self._from_settings is not None and appid == self._from_settings.appid:
            return self._from_settings
        if not appid or len(appid) > 32:
            return None
        return await self._cached(appid)

    def forget(self, appid: str | None = None) -> None:
        """Drop cached lookups (all, or one appid) after an admin changed an account."""
        if appid is None:
            self._cache.clear()
        else:
            self._cache.pop(appid, None)
            self._cache.pop(DEFAULT, None)

    async def _cached(self, key: str) -> ServedAccount | None:
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        served = await self._load(key)
        # Unknown appids are cached too, so a flood of bogus URLs costs one query per ttl, not per request.
        self._cache[key] = (time.monotonic() + self._ttl, served)
        return served

    async def _load(self, key: str) -> ServedAccount | None:
        async with self._db.session() as session:
            if key == DEFAULT:
                defaults = await default_accounts(session)
                account = defaults[0] if defaults else None
            else:
                account = await account_by_appid(session, key)
        if account is None:
            return None
        if not account.token:
            log.warning("account %s has no token configured; its callbacks are refused", account.appid)
            return None
        return _serve(account)


__all__ = ["AccountDirectory", "ServedAccount"]
