"""`WeChatAPI`: the one seam between this product and WeChat's server API.

Every method takes the appid of the account it acts for, returns WeChat's parsed JSON answer when
errcode is 0, and raises otherwise:

- `WeChatAPIError` (with `.reaction`, see errors.py) when WeChat answered a non-zero errcode;
- `WeChatNetworkError` when WeChat could not be reached or answered garbage (retryable);
- `CredentialsRejected` when the appsecret is wrong (alert the admin; never retried by itself);
- `ValueError` when the arguments can never make a valid request (nothing was sent).

A call refused with 40001/40014/42001 is retried exactly once with a refreshed token.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from base.clock import Clock
from base.settings import Settings
from storage.db import Database
from wechat.api.credentials import CredentialSource, SettingsAndAccounts
from wechat.api.errors import TOKEN_ERRCODES, WeChatAPIError
from wechat.api.token import TokenManager, http_token_fetcher
from wechat.api.transport import Transport

log = logging.getLogger("wechat.api")

BATCH_USER_INFO_LIMIT = 100
TEMPORARY_QR_MAX_SECONDS = 30 * 24 * 3600
PERMANENT_QR_MAX_SCENE_ID = 100_000


def qrcode_image_url(ticket: str) -> str:
    """Where WeChat serves the image of a QR code ticket."""
    return "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=" + quote(ticket, safe="")


def qrcode_request(scene: int | str, *, permanent: bool, expire_seconds: int) -> dict[str, Any]:
    """The body of /cgi-bin/qrcode/create for `scene`, checked against WeChat's limits."""
    if isinstance(scene, bool) or not isinstance(scene, int | str):
        raise ValueError("a QR scene is a whole number or a string")
    if isinstance(scene, int):
        limit = PERMANENT_QR_MAX_SCENE_ID if permanent else 2**32 - 1
        if not 1 <= scene <= limit:
            raise ValueError(f"a {'permanent' if permanent else 'temporary'} QR scene id must be 1-{limit}")
        action = "QR_LIMIT_SCENE" if permanent else "QR_SCENE"
        info: dict[str, Any] = {"scene": {"scene_id": scene}}
    else:
        if not 1 <= len(scene) <= 64:
            raise ValueError("a QR scene string must be 1-64 characters")
        action = "QR_LIMIT_STR_SCENE" if permanent else "QR_STR_SCENE"
        info = {"scene": {"scene_str": scene}}
    body: dict[str, Any] = {"action_name": action, "action_info": info}
    if not permanent:
        if not 60 <= expire_seconds <= TEMPORARY_QR_MAX_SECONDS:
            raise ValueError(f"a temporary QR code lives 60-{TEMPORARY_QR_MAX_SECONDS} seconds")
        body["expire_seconds"] = expire_seconds
    return body


def _require(payload: dict[str, Any], api: str, *names: str) -> None:
    missing = [name for name in names if not payload.get(name)]
    if missing:
        raise ValueError(f"{api} payload lacks {', '.join(missing)}")


class WeChatAPI:
    """The outbound WeChat API client, shared by every feature of one process."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Clock,
        *,
        credentials: CredentialSource | None = None,
        session: aiohttp.ClientSession | None = None,
        classic_token_api: bool = False,
        timeout: float = 10.0,
        token_margin: timedelta = timedelta(minutes=5),
        owner: str | None = None,
    ) -> None:
        """`credentials` defaults to the Settings' account plus the `accounts` table.

        `classic_token_api=True` fetches tokens with GET /cgi-bin/token instead of POST
        /cgi-bin/stable_token (for proxies that only know the old endpoint). `session` is used as is
        and left open; without it the client creates its own on first use and closes it in `close()`.
        """
        self.transport = Transport(settings.wechat_api_base, session=session, timeout=timeout)
        self._credentials = credentials or SettingsAndAccounts(settings, db)
        self.tokens = TokenManager(
            db,
            clock,
            self._credentials,
            http_token_fetcher(self.transport, "classic" if classic_token_api else "stable"),
            owner=owner,
            margin=token_margin,
        )

    async def __aenter__(self) -> WeChatAPI:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session the client created."""
        await self.transport.close()

    async def call(
        self,
        appid: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Call any token-authenticated API at `path`; the typed methods below are built on this."""
        api = path.removeprefix("/cgi-bin/")
        token = await self.tokens.get_token(appid)
        answer = await self._send(method, path, api, token, params, body)
        errcode = _errcode(answer)
        if errcode in TOKEN_ERRCODES:
            # Refused before anything was done, so one retry with a new token cannot send twice.
            log.warning("%s for %s refused the access token (%s); retrying once", api, appid, errcode)
            token = await self.tokens.replace_token(appid, token)
            answer = await self._send(method, path, api, token, params, body)
            errcode = _errcode(answer)
        if errcode != 0:
            raise WeChatAPIError(errcode, str(answer.get("errmsg", "")), api)
        return answer

    async def _send(
        self,
        method: str,
        path: str,
        api: str,
        token: str,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
    ) -> dict[str, Any]:
        query = {**(params or {}), "access_token": token}
        return await self.transport.request(method, path, api=api, params=query, body=body)

    async def web_auth_openid(self, appid: str, code: str) -> str:
        """Web authorization (snsapi_base): the openid of whoever's browser brought `code` back.

        GET /sns/oauth2/access_token with the account's secret; the code works once, for 5 minutes
        (40029 / 40163 otherwise, raised as WeChatAPIError).
        """
        credentials = await self._credentials.credentials(appid)
        params = {
            "appid": appid,
            "secret": credentials.appsecret,
            "code": code,
            "grant_type": "authorization_code",
        }
        api = "sns/oauth2/access_token"
        answer = await self.transport.request("GET", "/sns/oauth2/access_token", api=api, params=params)
        errcode = _errcode(answer)
        if errcode != 0 or not answer.get("openid"):
            raise WeChatAPIError(errcode or -1, str(answer.get("errmsg", "no openid")), api)
        return str(answer["openid"])

    # --- Messages -------------------------------------------------------------------------------------

    async def send_custom_message(self, appid: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A customer-service message (only inside a window the follower opened)."""
        _require(payload, "custom message", "touser", "msgtype")
        return await self.call(appid, "POST", "/cgi-bin/message/custom/send", body=payload)

    async def send_template_message(self, appid: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A template (service notice) message; the answer carries `msgid`."""
        _require(payload, "template message", "touser", "template_id")
        return await self.call(appid, "POST", "/cgi-bin/message/template/send", body=payload)

    async def send_subscribe_message(self, appid: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A subscription notice, spending one consent the follower gave (43101 when there is none)."""
        _require(payload, "subscription notice", "touser", "template_id")
        return await self.call(appid, "POST", "/cgi-bin/message/subscribe/bizsend", body=payload)

    async def mass_send(self, appid: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A mass send to a list of openids; `clientmsgid` makes a repeat answer 45065 instead of resending."""
        _require(payload, "mass send", "touser", "msgtype", "clientmsgid")
        return await self.call(appid, "POST", "/cgi-bin/message/mass/send", body=payload)

    async def mass_send_to_tag(self, appid: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A mass send to a tag (or everyone with `filter.is_to_all`); same `clientmsgid` rule."""
        _require(payload, "mass send", "filter", "msgtype", "clientmsgid")
        return await self.call(appid, "POST", "/cgi-bin/message/mass/sendall", body=payload)

    async def upload_news(self, appid: str, articles: list[dict[str, Any]]) -> dict[str, Any]:
        """Upload 1-8 articles for a mass send; the answer's `media_id` goes into `{"mpnews": ...}`."""
        if not 1 <= len(articles) <= 8:
            raise ValueError(f"a mass-send news holds 1-8 articles, got {len(articles)}")
        return await self.call(appid, "POST", "/cgi-bin/media/uploadnews", body={"articles": articles})

    # --- Users, QR codes, menus ----------------------------------------------------------------------

    async def get_user_info(self, appid: str, openid: str, lang: str = "zh_CN") -> dict[str, Any]:
        """Subscription status, unionid, scene and tags of one follower (no nickname since 2021)."""
        if not openid:
            raise ValueError("get_user_info needs an openid")
        return await self.call(appid, "GET", "/cgi-bin/user/info", params={"openid": openid, "lang": lang})

    async def batch_get_user_info(self, appid: str, openids: list[str], lang: str = "zh_CN") -> dict[str, Any]:
        """`user/info` for up to 100 followers at once; the answer's `user_info_list` keeps their order."""
        if not 1 <= len(openids) <= BATCH_USER_INFO_LIMIT:
            raise ValueError(f"batch_get_user_info takes 1-{BATCH_USER_INFO_LIMIT} openids, got {len(openids)}")
        body = {"user_list": [{"openid": openid, "lang": lang} for openid in openids]}
        return await self.call(appid, "POST", "/cgi-bin/user/info/batchget", body=body)

    async def create_qrcode(
        self, appid: str, scene: int | str, *, permanent: bool, expire_seconds: int = TEMPORARY_QR_MAX_SECONDS
    ) -> dict[str, Any]:
        """A parametric QR code for a channel; the answer has `ticket`, `url` (and `expire_seconds`)."""
        body = qrcode_request(scene, permanent=permanent, expire_seconds=expire_seconds)
        return await self.call(appid, "POST", "/cgi-bin/qrcode/create", body=body)

    async def get_menu(self, appid: str) -> dict[str, Any]:
        """The custom menu as set through the API (46003 when there is none)."""
        return await self.call(appid, "GET", "/cgi-bin/menu/get")

    async def create_menu(self, appid: str, menu: dict[str, Any]) -> dict[str, Any]:
        """Replace the custom menu: `{"button": [...]}`, at most 3 top-level buttons."""
        buttons = menu.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise ValueError("a menu is {'button': [...]} with 1-3 top-level buttons")
        return await self.call(appid, "POST", "/cgi-bin/menu/create", body=menu)

    async def check_connection(self, appid: str) -> dict[str, Any]:
        """The console's connection test: obtain the shared token and report how long it stays valid."""
        token = await self.tokens.get_token(appid)
        return {
            "appid": appid,
            "api_base": self.transport.base_url,
            "token_ok": bool(token),
            "token_valid_until": self.tokens.valid_until(appid),
        }


def _errcode(answer: dict[str, Any]) -> int:
    try:
        return int(answer.get("errcode", 0) or 0)
    except (TypeError, ValueError):
        return -1
