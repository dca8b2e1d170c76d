"""What the fake WeChat API does for each endpoint, apart from how it is served (fake_wechat.py).

`FakeEndpoints` holds the platform's state (accounts, tokens, followers, windows, menus, QR codes, used
clientmsgids) and answers one call at a time; errors are raised as FakeAPIError with WeChat's codes.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from base.clock import Clock, SystemClock, real_clock
from sandbox.fake_state import FakeAPIError, FakeFollower, TokenBook, WindowBook

Answer = dict[str, Any]
OK: Answer = {"errcode": 0, "errmsg": "ok"}
_BUTTON_TYPES = frozenset(
    {
        "click",
        "view",
        "miniprogram",
        "scancode_push",
        "scancode_waitmsg",
        "pic_sysphoto",
        "pic_photo_or_album",
        "pic_weixin",
        "location_select",
        "media_id",
        "article_id",
        "article_view_limited",
    }
)


@dataclass
class FakeCall:
    """One request being answered."""

    api: str
    params: dict[str, str]
    body: dict[str, Any] | None
    appid: str | None = None
    recipients: tuple[str, ...] = ()

    def field(self, name: str) -> Any:
        return (self.body or {}).get(name)


Endpoint = Callable[[FakeCall], Awaitable[Answer]]


class FakeEndpoints:
    """WeChat's behaviour per API; `routes()` maps each API name to its HTTP method and handler."""

    def __init__(
        self, accounts: Mapping[str, str] | None = None, *, clock: Clock | None = None, sibling_key: bytes | None = None
    ) -> None:
        """`accounts` maps appid -> appsecret; None accepts any appid with any non-empty secret. Fakes
        given the same `sibling_key` (one per process of a demo) accept each other's tokens."""
        self.clock: Clock = clock or SystemClock()
        self.accounts: dict[str, str] | None = None if accounts is None else dict(accounts)
        # WeChat's tokens expire in real time (the product's client reckons them so too).
        self.tokens = TokenBook(real_clock(self.clock), sibling_key=sibling_key)
        self.windows = WindowBook()
        self.followers: dict[str, FakeFollower] = {}
        self.menus: dict[str, dict[str, Any]] = {}
        self.qrcodes: dict[str, dict[str, Any]] = {}
        # When set, template ids outside it answer 40037.
        self.template_ids: set[str] | None = None
        # Off by default: most tests of other features do not model windows.
        self.enforce_windows = False
        # Mass-send news uploaded through media/uploadnews, by media_id.
        self.news: dict[str, list[dict[str, Any]]] = {}
        self._clientmsgids: dict[str, set[str]] = defaultdict(set)
        # WeChat's msgids never repeat; the processes of a demo each run a fake, so each counts on from a
        # random point of a space too large for two to meet.
        self.next_msgid = secrets.randbelow(2**40) * 1_000_000

    def routes(self) -> dict[str, tuple[str, Endpoint]]:
        return {
            "token": ("GET", self._token),
            "stable_token": ("POST", self._stable_token),
            "message/custom/send": ("POST", self._custom_send),
            "message/template/send": ("POST", self._template_send),
            "message/subscribe/bizsend": ("POST", self._subscribe_send),
            "message/mass/send": ("POST", self._mass_send),
            "message/mass/sendall": ("POST", self._mass_send),
            "media/uploadnews": ("POST", self._upload_news),
            "user/info": ("GET", self._user_info),
            "user/info/batchget": ("POST", self._user_info_batch),
            "qrcode/create": ("POST", self._qrcode_create),
            "menu/get": ("GET", self._menu_get),
            "menu/create": ("POST", self._menu_create),
        }

    def _check_secret(self, appid: str, secret: str) -> None:
        if not appid:
            raise FakeAPIError(41002, "appid missing")
        if not secret:
            raise FakeAPIError(41004, "appsecret missing")
        if self.accounts is None:
            return
        if appid not in self.accounts:
            raise FakeAPIError(40013, "invalid appid")
        if not secrets.compare_digest(self.accounts[appid], secret):
            raise FakeAPIError(40001, "invalid credential, access_token is invalid or not latest")

    async def _token(self, call: FakeCall) -> Answer:
        if call.params.get("grant_type") != "client_credential":
            raise FakeAPIError(40002, "invalid grant_type")
        appid = call.params.get("appid", "")
        self._check_secret(appid, call.params.get("secret", ""))
        call.appid = appid
        token = self.tokens.classic(appid)
        return {"access_token": token, "expires_in": self.tokens.remaining(token)}

    async def _stable_token(self, call: FakeCall) -> Answer:
        if call.field("grant_type") != "client_credential":
            raise FakeAPIError(40002, "invalid grant_type")
        appid = str(call.field("appid") or "")
        self._check_secret(appid, str(call.field("secret") or ""))
        call.appid = appid
        token = self.tokens.stable(appid, force_refresh=call.field("force_refresh") is True)
        return {"access_token": token, "expires_in": self.tokens.remaining(token)}

    def _require_following(self, openid: str) -> None:
        follower = self.followers.get(openid)
        if follower is not None and not follower.subscribed:
            raise FakeAPIError(43004, "require subscribe")

    def issue_msgid(self) -> int:
        """A new msgid, as WeChat answers a send."""
        self.next_msgid += 1
        return self.next_msgid

    async def _custom_send(self, call: FakeCall) -> Answer:
        openid, msgtype = call.field("touser"), call.field("msgtype")
        if not isinstance(openid, str) or not openid:
            raise FakeAPIError(40003, "invalid openid")
        if not isinstance(msgtype, str) or not isinstance(call.field(msgtype), dict):
            raise FakeAPIError(47001, "data format error: msgtype and its body are required")
        self._require_following(openid)
        if self.enforce_windows:
            self.windows.spend(openid, self.clock.now())
        return OK

    def _check_template(self, call: FakeCall) -> str:
        openid, template_id = call.field("touser"), call.field("template_id")
        if not isinstance(openid, str) or not openid:
            raise FakeAPIError(40003, "invalid openid")
        if not isinstance(template_id, str) or not template_id:
            raise FakeAPIError(40037, "invalid template_id")
        if self.template_ids is not None and template_id not in self.template_ids:
            raise FakeAPIError(40037, "invalid template_id")
        data = call.field("data")
        if data is not None and not isinstance(data, dict):
            raise FakeAPIError(47003, "argument invalid! data is not an object")
        self._require_following(openid)
        return openid

    async def _template_send(self, call: FakeCall) -> Answer:
        self._check_template(call)
        return {**OK, "msgid": self.issue_msgid()}

    async def _subscribe_send(self, call: FakeCall) -> Answer:
        self._check_template(call)
        return OK

    async def _mass_send(self, call: FakeCall) -> Answer:
        msgtype = call.field("msgtype")
        if not isinstance(msgtype, str) or not isinstance(call.field(msgtype), dict):
            raise FakeAPIError(47001, "data format error: msgtype and its body are required")
        if call.api == "message/mass/send" and not 2 <= len(call.recipients) <= 10_000:
            raise FakeAPIError(40130, "invalid openid list size, at least two openid")
        clientmsgid = call.field("clientmsgid")
        if clientmsgid:
            used = self._clientmsgids[call.appid or ""]
            if clientmsgid in used:
                # Nothing is sent again: the recipients of this call received nothing from it.
                call.recipients = ()
                raise FakeAPIError(45065, "clientmsgid exist")
            used.add(str(clientmsgid))
        msg_id = self.issue_msgid()
        return {**OK, "errmsg": "send job submission success", "msg_id": msg_id, "msg_data_id": msg_id}

    async def _upload_news(self, call: FakeCall) -> Answer:
        articles = call.field("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
            raise FakeAPIError(45008, "article size out of limit: 1-8")
        for article in articles:
            if not isinstance(article, dict) or not article.get("title") or not article.get("content"):
                raise FakeAPIError(47001, "data format error: every article needs a title and content")
        media_id = "news_" + secrets.token_urlsafe(16)
        self.news[media_id] = articles
        return {"type": "news", "media_id": media_id, "created_at": int(self.clock.now().timestamp())}

    async def _user_info(self, call: FakeCall) -> Answer:
        follower = self.followers.get(call.params.get("openid", ""))
        if follower is None:
            raise FakeAPIError(40003, "invalid openid")
        return follower.user_info()

    async def _user_info_batch(self, call: FakeCall) -> Answer:
        entries = call.field("user_list")
        if not isinstance(entries, list) or not 1 <= len(entries) <= 100:
            raise FakeAPIError(40032, "invalid openid list size: 1-100")
        infos = []
        for entry in entries:
            openid = entry.get("openid") if isinstance(entry, dict) else None
            follower = self.followers.get(openid) if isinstance(openid, str) else None
            if follower is None:
                raise FakeAPIError(40003, f"invalid openid {openid!r}")
            infos.append(follower.user_info())
        return {"user_info_list": infos}

    async def _qrcode_create(self, call: FakeCall) -> Answer:
        action, info = call.field("action_name"), call.field("action_info")
        scene = info.get("scene") if isinstance(info, dict) else None
        if not isinstance(scene, dict):
            raise FakeAPIError(40053, "invalid action info")
        value = scene.get("scene_str") if action in ("QR_STR_SCENE", "QR_LIMIT_STR_SCENE") else scene.get("scene_id")
        if action in ("QR_STR_SCENE", "QR_LIMIT_STR_SCENE"):
            valid = isinstance(value, str) and 1 <= len(value) <= 64
        elif action == "QR_LIMIT_SCENE":
            valid = isinstance(value, int) and 1 <= value <= 100_000
        elif action == "QR_SCENE":
            valid = isinstance(value, int) and 1 <= value < 2**32
        else:
            raise FakeAPIError(40052, "invalid action name")
        if not valid:
            raise FakeAPIError(40053, "invalid action info: scene")
        ticket = "gQ" + secrets.token_urlsafe(30)
        answer: Answer = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket[:22]}"}
        if not action.startswith("QR_LIMIT"):
            expire = call.field("expire_seconds") or 60
            if not isinstance(expire, int) or expire < 1:
                raise FakeAPIError(40009, "invalid expire_seconds")
            answer["expire_seconds"] = min(expire, 2_592_000)
        self.qrcodes[ticket] = {"scene": str(value), "permanent": action.startswith("QR_LIMIT"), **answer}
        return answer

    async def _menu_get(self, call: FakeCall) -> Answer:
        menu = self.menus.get(call.appid or "")
        if menu is None:
            raise FakeAPIError(46003, "menu no exist")
        return {"menu": menu}

    async def _menu_create(self, call: FakeCall) -> Answer:
        buttons = call.field("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise FakeAPIError(40016, "invalid button size: 1-3 top-level buttons")
        for button in buttons:
            _check_button(button, top_level=True)
        self.menus[call.appid or ""] = {"button": buttons}
        return OK

    def menu_buttons(self, appid: str | None = None) -> list[dict[str, str]]:
        """Every tappable button (name, type, key, url, group) of the menu of `appid` (any account when
        None), in menu order, for the sandbox; `group` names the top-level button a sub button sits in."""
        menus = [self.menus[appid]] if appid in self.menus else list(self.menus.values()) if appid is None else []
        found: list[dict[str, str]] = []
        for menu in menus:
            for button in menu["button"]:
                subs = button.get("sub_button") or []
                group = str(button.get("name", "")) if subs else ""
                for item in subs or [button]:
                    found.append(
                        {
                            "name": str(item.get("name", "")),
                            "type": str(item.get("type", "")),
                            "key": str(item.get("key") or ""),
                            "url": str(item.get("url") or ""),
                            "group": group,
                        }
                    )
        return found

    def menu_clicks(self, appid: str | None = None) -> list[dict[str, str]]:
        """The CLICK buttons (name, key) of the menu of `appid` (any account when None)."""
        return [
            {"name": item["name"], "key": item["key"]}
            for item in self.menu_buttons(appid)
            if item["type"] == "click" and item["key"]
        ]


def _check_button(button: Any, *, top_level: bool) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("name"), str) or not button["name"]:
        raise FakeAPIError(40018, "invalid button name")
    subs = button.get("sub_button")
    if subs:
        if not top_level or not isinstance(subs, list) or len(subs) > 5:
            raise FakeAPIError(40017, "invalid sub button size: at most 5, one level")
        for sub in subs:
            _check_button(sub, top_level=False)
        return
    if button.get("type") == "click" and not button.get("key"):
        raise FakeAPIError(40019, "invalid button key")
    if button.get("type") == "view" and not button.get("url"):
        raise FakeAPIError(40055, "invalid button url")
    if button.get("type") not in _BUTTON_TYPES:
        raise FakeAPIError(40016, f"invalid button type {button.get('type')!r}")
