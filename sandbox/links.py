"""Opening a tracked link from the simulator as the follower would in WeChat's browser.

`GET /sandbox/open?openid=...&url=/l/<token>` remembers who is browsing (the cookie the fake's web
authorization reads, sandbox.fake_oauth) and goes to the link; the gateway then asks the fake who the
browser is, exactly as it asks WeChat. Only this server's tracked links are opened: never an open redirect.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from aiohttp import web

from base.i18n import _
from sandbox.fake_oauth import OPENID_COOKIE

_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TRACKED_PATH = re.compile(r"/l/[A-Za-z0-9_-]{1,64}")


async def open_tracked_link(request: web.Request) -> web.StreamResponse:
    openid = request.query.get("openid", "")
    target = urlsplit(request.query.get("url", ""))
    same_server = not target.netloc or target.netloc == request.host
    if not _OPENID.fullmatch(openid) or not same_server or not _TRACKED_PATH.fullmatch(target.path):
        return web.Response(status=400, text=_("not a tracked link of this server"))
    response = web.Response(status=302, headers={"Location": target.path, "Cache-Control": "no-store"})
    response.set_cookie(OPENID_COOKIE, openid, path="/", httponly=True, samesite="Lax")
    return response


def add_link_opener(app: web.Application) -> None:
    app.router.add_get("/open", open_tracked_link)
