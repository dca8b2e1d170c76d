"""WeChat's web authorization (snsapi_base), as the fake plays it: who the browser is, told by a code.

`GET /connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope=snsapi_base&state` stands for
WeChat's in-app browser asking silently who the person is: it sends the browser back to `redirect_uri`
with `code` and `state`. The person is the sandbox's current follower (the `fake_wechat_openid` cookie
the simulator sets), or `?as_openid=` in tests; without either, someone who does not follow the account
(a fresh openid, as WeChat gives one to anybody). `GET /sns/oauth2/access_token` exchanges a code once,
within 5 minutes, for the openid (40029 otherwise), checking the account's secret like WeChat.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from base.clock import Clock

CODE_LIFETIME = timedelta(minutes=5)
OPENID_COOKIE = "fake_wechat_openid"


@dataclass(frozen=True)
class _Code:
    appid: str
    openid: str
    issued_at: datetime


class FakeWebAuth:
    """The two endpoints of web authorization; `exchanges` counts the codes exchanged (tests read it)."""

    def __init__(self, clock: Clock, check_secret: Callable[[str, str], None]) -> None:
        self._clock = clock
        self._check_secret = check_secret
        self._codes: dict[str, _Code] = {}
        self.exchanges = 0

    def install(self, app: web.Application) -> None:
        app.router.add_get("/connect/oauth2/authorize", self.authorize)
        app.router.add_get("/sns/oauth2/access_token", self.access_token)

    async def authorize(self, request: web.Request) -> web.Response:
        query = request.query
        redirect = query.get("redirect_uri", "")
        if query.get("scope") != "snsapi_base" or query.get("response_type") != "code" or not query.get("appid"):
            return web.Response(status=400, text="bad authorization request")
        if urlsplit(redirect).scheme not in ("http", "https"):
            return web.Response(status=400, text="redirect_uri must be an http(s) address")
        openid = query.get("as_openid") or request.cookies.get(OPENID_COOKIE) or "o_stranger_" + secrets.token_hex(8)
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(query["appid"], openid, self._clock.now())
        separator = "&" if "?" in redirect else "?"
        location = f"{redirect}{separator}{urlencode({'code': code, 'state': query.get('state', '')})}"
        return web.Response(status=302, headers={"Location": location})

    async def access_token(self, request: web.Request) -> web.Response:
        query = request.query
        appid = query.get("appid", "")
        try:
            self._check_secret(appid, query.get("secret", ""))
        except Exception as error:  # the fake's FakeAPIError: answer as WeChat would
            errcode = getattr(error, "errcode", 40001)
            return web.json_response({"errcode": errcode, "errmsg": str(error)})
        if query.get("grant_type") != "authorization_code":
            return web.json_response({"errcode": 40002, "errmsg": "invalid grant_type"})
        found = self._codes.pop(query.get("code", ""), None)
        if found is None or found.appid != appid or self._clock.now() - found.issued_at > CODE_LIFETIME:
            return web.json_response({"errcode": 40029, "errmsg": "invalid code"})
        self.exchanges += 1
        return web.json_response(
            {
                "access_token": secrets.token_urlsafe(32),
                "expires_in": 7200,
                "refresh_token": secrets.token_urlsafe(32),
                "openid": found.openid,
                "scope": "snsapi_base",
            }
        )
