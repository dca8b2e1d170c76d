"""One access token per account for every process: cached in memory, shared and refreshed via the database.

WeChat allows 2000 token fetches a day and a fetch can invalidate the previous token, so processes must
not each fetch their own. The rules:

- A token is used from memory until it is *due*: `margin` (5 minutes) before it expires.
- When due, the process reads the database; if another process already stored a fresh token, it uses it.
- Otherwise it takes the refresh lease (a conditional UPDATE, see storage.tokens); only the lease holder
  calls WeChat. The others keep using the still-valid old token, or wait for the new one.
- When an API call says the token is invalid, the token is expired in the database only if it is still
  the failing one (another process may have replaced it already), then refreshed the same way.
- A rejected appsecret is logged at ERROR and remembered for a cool-down: callers get the error at once
  instead of every send triggering another doomed fetch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from base.clock import Clock
from storage import tokens as token_store
from storage.db import Database
from wechat.api.credentials import AccountCredentials, CredentialSource
from wechat.api.errors import CredentialsRejected, TokenUnavailable, WeChatAPIError, WeChatNetworkError
from wechat.api.transport import Transport

log = logging.getLogger("wechat.api.token")

TokenEndpoint = Literal["stable", "classic"]
# Codes a token fetch answers when the account's credentials (not the token) are wrong.
CREDENTIAL_ERRCODES = frozenset({40001, 40013, 40125, 40164, 41004})


@dataclass(frozen=True)
class FetchedToken:
    token: str
    expires_in: int


TokenFetcher = Callable[[AccountCredentials, bool], Awaitable[FetchedToken]]


def refresh_due(expires_at: datetime, refreshed_at: datetime | None, margin: timedelta) -> datetime:
    """When a token should be replaced: `margin` before it expires.

    WeChat's stable token endpoint keeps handing out the current token until it is close to expiry, so
    a token may arrive with less than `margin` left. Refreshing it at once would only fetch the same
    token again; instead it is due halfway through whatever life it had left when it was fetched.
    """
    early = expires_at - margin
    if refreshed_at is None or refreshed_at >= expires_at:
        return early
    return max(early, refreshed_at + (expires_at - refreshed_at) / 2)


def default_owner() -> str:
    """A name for this process in the lease column: host, pid and a random suffix (several per process)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def http_token_fetcher(transport: Transport, endpoint: TokenEndpoint = "stable") -> TokenFetcher:
    """Fetch tokens from WeChat: POST /cgi-bin/stable_token, or the classic GET /cgi-bin/token."""

    async def fetch(credentials: AccountCredentials, force_refresh: bool) -> FetchedToken:
        if endpoint == "stable":
            api = "stable_token"
            body = {
                "grant_type": "client_credential",
                "appid": credentials.appid,
                "secret": credentials.appsecret,
                "force_refresh": force_refresh,
            }
            answer = await transport.request("POST", "/cgi-bin/stable_token", api=api, body=body)
        else:
            api = "token"
            params = {"grant_type": "client_credential", "appid": credentials.appid, "secret": credentials.appsecret}
            answer = await transport.request("GET", "/cgi-bin/token", api=api, params=params)
        errcode = int(answer.get("errcode", 0) or 0)
        if errcode in CREDENTIAL_ERRCODES:
            raise CredentialsRejected(errcode, str(answer.get("errmsg", "")), api, appid=credentials.appid)
        if errcode != 0:
            raise WeChatAPIError(errcode, str(answer.get("errmsg", "")), api)
        token = answer.get("access_token")
        expires_in = answer.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int) or expires_in <= 0:
            raise WeChatNetworkError(api, "WeChat's token answer lacks access_token or expires_in")
        return FetchedToken(token, expires_in)

    return fetch


@dataclass(frozen=True)
class _Cached:
    token: str
    expires_at: datetime
    due: datetime


class TokenManager:
    """Hands out each account's shared access token; see the module docstring for the rules."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        credentials: CredentialSource,
        fetch: TokenFetcher,
        *,
        owner: str | None = None,
        margin: timedelta = timedelta(minutes=5),
        lease: timedelta = timedelta(seconds=30),
        wait_limit: float = 15.0,
        poll_interval: float = 0.05,
        rejection_cooldown: timedelta = timedelta(minutes=1),
    ) -> None:
        self._db = db
        self._clock = clock
        self._credentials = credentials
        self._fetch = fetch
        self.owner = owner or default_owner()
        self._margin = margin
        self._lease = lease
        self._wait_limit = wait_limit
        self._poll_interval = poll_interval
        self._rejection_cooldown = rejection_cooldown
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._rejected: dict[str, tuple[datetime, CredentialsRejected]] = {}

    def _lock(self, appid: str) -> asyncio.Lock:
        return self._locks.setdefault(appid, asyncio.Lock())

    async def get_token(self, appid: str) -> str:
        """The current token of `appid`, refreshing it (once, for every process) when due."""
        cached = self._cache.get(appid)
        if cached is not None and self._clock.now() < cached.due:
            return cached.token
        # One coroutine per process goes to the database; the others wait here and reuse its result.
        async with self._lock(appid):
            cached = self._cache.get(appid)
            if cached is not None and self._clock.now() < cached.due:
                return cached.token
            return await self._obtain(appid, failing=None)

    async def replace_token(self, appid: str, failing: str) -> str:
        """`failing` was refused by WeChat: get a different token (refreshing only if still needed)."""
        async with self._lock(appid):
            now = self._clock.now()
            cached = self._cache.get(appid)
            if cached is not None and cached.token != failing and now < cached.due:
                return cached.token  # another coroutine of this process replaced it meanwhile
            if cached is not None and cached.token == failing:
                del self._cache[appid]
            if await token_store.expire_token_if_current(self._db, appid, failing, now):
                log.warning("access token of %s was refused by WeChat; refreshing it", appid)
            return await self._obtain(appid, failing=failing)

    async def refresh_tokens(self) -> dict[str, str]:
        """Keep every configured account's token fresh (a scheduler job); returns appid -> outcome.

        Errors are logged and reported, not raised, so one broken account does not stop the others.
        """
        outcomes: dict[str, str] = {}
        for appid in await self._credentials.appids():
            try:
                await self.get_token(appid)
            except (WeChatAPIError, WeChatNetworkError, TokenUnavailable) as error:
                log.error("could not refresh the access token of %s: %s", appid, error)
                outcomes[appid] = f"error: {error}"
            else:
                cached = self._cache[appid]
                outcomes[appid] = f"valid until {cached.expires_at.isoformat()}"
        return outcomes

    def valid_until(self, appid: str) -> str | None:
        """When this process's copy of `appid`'s token expires (ISO 8601), or None if it has none."""
        cached = self._cache.get(appid)
        return None if cached is None else cached.expires_at.isoformat()

    def forget(self, appid: str) -> None:
        """Drop this process's memory of `appid` (after its credentials were edited)."""
        self._cache.pop(appid, None)
        self._rejected.pop(appid, None)

    def _remember(self, appid: str, token: str, expires_at: datetime, refreshed_at: datetime | None) -> str:
        self._cache[appid] = _Cached(token, expires_at, refresh_due(expires_at, refreshed_at, self._margin))
        return token

    def _fresh(self, stored: token_store.StoredToken | None, failing: str | None) -> bool:
        if stored is None or stored.expires_at is None or not stored.token or stored.token == failing:
            return False
        return self._clock.now() < refresh_due(stored.expires_at, stored.refreshed_at, self._margin)

    async def _obtain(self, appid: str, failing: str | None) -> str:
        self._raise_if_rejected(appid)
        deadline = asyncio.get_running_loop().time() + self._wait_limit
        while True:
            stored = await token_store.read_token(self._db, appid)
            if stored is not None and self._fresh(stored, failing):
                assert stored.expires_at is not None
                return self._remember(appid, stored.token, stored.expires_at, stored.refreshed_at)
            now = self._clock.now()
            if await token_store.take_lease(self._db, appid, self.owner, now, self._lease):
                return await self._refresh_holding_lease(appid, failing)
            # Another process is refreshing. An early refresh leaves the old token valid: keep using it.
            if stored is not None and stored.usable_at(now) and stored.token != failing:
                return stored.token
            if asyncio.get_running_loop().time() >= deadline:
                raise TokenUnavailable(f"another process holds the token lease of {appid} and published nothing")
            await asyncio.sleep(self._poll_interval)

    async def _refresh_holding_lease(self, appid: str, failing: str | None) -> str:
        try:
            # Someone may have published between our read and our lease: do not fetch twice.
            stored = await token_store.read_token(self._db, appid)
            if stored is not None and self._fresh(stored, failing):
                assert stored.expires_at is not None
                return self._remember(appid, stored.token, stored.expires_at, stored.refreshed_at)
            credentials = await self._credentials.credentials(appid)
            fetched = await self._fetch_checked(credentials, force_refresh=False)
            if failing is not None and fetched.token == failing:
                # WeChat's normal mode returned the very token it refused: only a forced refresh helps.
                fetched = await self._fetch_checked(credentials, force_refresh=True)
            now = self._clock.now()
            expires_at = now + timedelta(seconds=fetched.expires_in)
            if not await token_store.publish_token(self._db, appid, self.owner, fetched.token, expires_at, now):
                log.warning("token lease of %s ran out during the fetch; another process took over", appid)
            log.info("access token of %s refreshed, valid for %d s", appid, fetched.expires_in)
            return self._remember(appid, fetched.token, expires_at, now)
        finally:
            # Harmless after publish_token (which already cleared it); needed on every failure path.
            await token_store.release_lease(self._db, appid, self.owner)

    async def _fetch_checked(self, credentials: AccountCredentials, *, force_refresh: bool) -> FetchedToken:
        try:
            return await self._fetch(credentials, force_refresh)
        except CredentialsRejected as error:
            log.error(
                "ALERT: WeChat rejected the credentials of %s (%s %s): fix the appsecret or the IP whitelist; "
                "no token will be fetched for %s",
                credentials.appid,
                error.errcode,
                error.errmsg,
                self._rejection_cooldown,
            )
            self._rejected[credentials.appid] = (self._clock.now() + self._rejection_cooldown, error)
            raise

    def _raise_if_rejected(self, appid: str) -> None:
        rejected = self._rejected.get(appid)
        if rejected is None:
            return
        until, error = rejected
        if self._clock.now() < until:
            raise CredentialsRejected(error.errcode, error.errmsg, error.api, appid=appid)
        del self._rejected[appid]
