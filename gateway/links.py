"""`GET /l/<token>`: a tracked link opened. Verified, recorded once per visitor, answered 302 to its target.

1. The token's signature and age are checked without the database (a bad one: 404, an old one: 410).
2. Its target is the declared link of the template version it names (cached; never taken from the URL).
3. Previews and prefetchers (HEAD, crawler user agents, prefetch headers) are sent on without recording.
4. In WeChat's browser, the first visit goes through web authorization (snsapi_base, silent); WeChat
   brings the browser back with `code`, which the API exchanges for the opener's openid.
5. The click is recorded (publishing.clicks), then the browser goes to the target.

A token of a person who was erased answers 410. Error pages are short, in Chinese and English.
"""

from __future__ import annotations

import logging
import re
import secrets
from urllib.parse import quote, urlencode

from aiohttp import web

from base.link_tokens import LinkClaim, TokenExpired, TokenInvalid
from base.settings import WECHAT_API_DEFAULT
from handlers.context import Services
from identity.erase import is_erased_follower
from identity.link_clicks import Click, ClickRecorder
from publishing.links import LinkTarget, LinkTracker, UnknownLink
from storage.links import FollowerState, follower_by_openid, follower_state, mass_send_appid
from wechat.api.errors import WeChatError

log = logging.getLogger(__name__)

RECORDER_KEY = web.AppKey("scrm.gateway.click_recorder", ClickRecorder)
AUTHORIZE_PATH = "/connect/oauth2/authorize"
_WECHAT_OPEN = "https://open.weixin.qq.com"
_COOKIE = "scrm_visitor"
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{16,32}")
# Link-preview fetchers and crawlers: they open links nobody clicked. Matched in the User-Agent.
_PREVIEWERS = re.compile(
    r"bot\b|bot/|crawler|spider|preview|facebookexternalhit|slack|whatsapp|telegram|discord|skype|"
    r"embedly|curl/|wget/|python-requests|go-http-client|headless",
    re.IGNORECASE,
)
_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:30em;margin:3em auto;padding:0 1em">
<h1 style="font-size:1.3em">{title}</h1><p>{chinese}</p><p lang="en">{english}</p></body></html>"""


def _page(status: int, title: str, chinese: str, english: str) -> web.Response:
    html = _PAGE.format(title=title, chinese=chinese, english=english)
    return web.Response(status=status, text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


def not_found_page() -> web.Response:
    return _page(404, "链接无效 / Link not found", "这个链接无效或已损坏。", "This link is not valid.")


def gone_page() -> web.Response:
    return _page(410, "链接已失效 / Link expired", "这个链接已过期或已失效。", "This link has expired.")


def is_prefetch(request: web.Request) -> bool:
    """A request no person made: HEAD, a preview fetcher or crawler, or a browser's prefetch."""
    if request.method == "HEAD":
        return True
    purpose = " ".join(request.headers.get(name, "") for name in ("Purpose", "Sec-Purpose", "X-Purpose", "X-Moz"))
    if "prefetch" in purpose.lower() or "preview" in purpose.lower():
        return True
    return bool(_PREVIEWERS.search(request.headers.get("User-Agent", "")))


class LinkEndpoint:
    """The `/l/{token}` handler of one process."""

    def __init__(self, services: Services, tracker: LinkTracker, recorder: ClickRecorder) -> None:
        self.services = services
        self.tracker = tracker
        self.recorder = recorder
        api_base = services.settings.wechat_api_base
        # The sandbox's fake WeChat authorizes too; a real deployment goes to open.weixin.qq.com.
        self.authorize_base = _WECHAT_OPEN if api_base == WECHAT_API_DEFAULT else api_base

    async def handle(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        try:
            await self.tracker.start()
            claim = self.tracker.verify(token)
            target = await self.tracker.target(claim)
        except (TokenInvalid, UnknownLink):
            return not_found_page()
        except TokenExpired:
            return gone_page()
        if is_prefetch(request):
            # Nothing is recorded, but an erased person's link stays gone for previews too.
            if claim.follower_id and not await self._recipient_alive(claim):
                return gone_page()
            return self._redirect(target)
        code = request.query.get("code", "")
        opener: FollowerState | None = None
        if code or self._wants_authorization(request):
            # WeChat's browser: the slow path (a redirect, a code exchange) reads what it needs itself.
            recipient = await follower_state(self.services.db, claim.follower_id) if claim.follower_id else None
            if claim.follower_id and (recipient is None or is_erased_follower(recipient.openid)):
                return gone_page()
            appid = await self._appid(claim, recipient)
            if not code and appid:
                return self._authorize(request, appid, token)
            opener = await self._opener(appid, recipient, code) if code else None
        cookie = request.cookies.get(_COOKIE, "")
        fresh = not _COOKIE_VALUE.fullmatch(cookie)
        if fresh:
            cookie = secrets.token_urlsafe(16)
        try:
            outcome = await self.recorder.record(Click(claim, target.url, opener, cookie, self.services.clock.now()))
        except Exception:  # logged by the recorder; the follower still gets the page
            outcome = "again"
        if outcome == "gone":
            return gone_page()
        response = self._redirect(target)
        if fresh:
            response.set_cookie(_COOKIE, cookie, max_age=400 * 86400, path="/l/", httponly=True, samesite="Lax")
        return response

    async def _recipient_alive(self, claim: LinkClaim) -> bool:
        recipient = await follower_state(self.services.db, claim.follower_id)
        return recipient is not None and not is_erased_follower(recipient.openid)

    def _redirect(self, target: LinkTarget) -> web.Response:
        return web.Response(status=302, headers={"Location": target.url, "Cache-Control": "no-store"})

    def _wants_authorization(self, request: web.Request) -> bool:
        # Only WeChat's own browser can be authorized silently; elsewhere WeChat's page asks to open
        # the link in WeChat, a dead end for the visitor.
        if request.query.get("state") == "l":
            return False  # back from an authorization that gave no code: do not loop
        return self.tracker.authorize_every_browser or "MicroMessenger" in request.headers.get("User-Agent", "")

    async def _appid(self, claim: LinkClaim, recipient: FollowerState | None) -> str:
        if recipient is not None:
            return recipient.appid
        if claim.kind == "m":
            return await mass_send_appid(self.services.db, claim.delivery_id) or ""
        return self.services.settings.wechat_appid

    def _authorize(self, request: web.Request, appid: str, token: str) -> web.Response:
        public = self.tracker.public_url or f"{request.scheme}://{request.host}"
        query = urlencode(
            {
                "appid": appid,
                "redirect_uri": f"{public}/l/{token}",
                "response_type": "code",
                "scope": "snsapi_base",
                "state": "l",
            },
            quote_via=quote,
        )
        location = f"{self.authorize_base}{AUTHORIZE_PATH}?{query}#wechat_redirect"
        return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})

    async def _opener(self, appid: str, recipient: FollowerState | None, code: str) -> FollowerState | None:
        """The follower web authorization names, or None (not a follower, or the code was refused)."""
        api = self.services.wechat_api
        if api is None or not appid:
            return None
        try:
            openid = await api.web_auth_openid(appid, code[:128])
        except WeChatError as error:
            log.info("tracked link: web authorization refused the code (%s)", error)
            return None
        if recipient is not None and recipient.openid == openid:
            return recipient
        return await follower_by_openid(self.services.db, appid, openid)


def add_link_routes(app: web.Application, services: Services) -> None:
    """Serve `/l/{token}` when the process has a link tracker; clicks under way finish at shutdown."""
    tracker = services.link_tracker
    if tracker is None:
        return
    recorder = ClickRecorder(services.db)
    endpoint = LinkEndpoint(services, tracker, recorder)
    app.router.add_get("/l/{token}", endpoint.handle)
    app[RECORDER_KEY] = recorder

    async def finish_clicks(_app: web.Application) -> None:
        await recorder.close()

    app.on_cleanup.append(finish_clicks)


__all__ = ["RECORDER_KEY", "LinkEndpoint", "add_link_routes", "gone_page", "is_prefetch", "not_found_page"]
