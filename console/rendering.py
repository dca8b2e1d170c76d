"""Jinja2 pages with autoescaping always on; times shown in China time, money in yuan."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from base.clock import CHINA
from console.keys import BASE_PATH, JINJA, SERVICES, VIEWER
from console.security import CSRF_FIELD

TEMPLATES = Path(__file__).parent / "templates"

# Fixed messages shown after a redirect (`?notice=saved`): no user text is ever reflected this way.
NOTICES = {
    "saved": "Saved.",
    "published": "Published: new pushes use this version.",
    "enabled": "Journey enabled.",
    "disabled": "Journey disabled.",
    "erased": "The profile was erased.",
    "user_added": "User added.",
    "user_updated": "User updated.",
    "signed_out": "You are signed out.",
}


def china_time(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """An aware UTC time as China local time; blank for None."""
    if moment is None:
        return ""
    return moment.astimezone(CHINA).strftime(pattern)


def yuan(fen: int | None) -> str:
    """Integer fen as yuan with two decimals: 12345 -> 123.45."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def build_environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["china_time"] = china_time
    environment.filters["yuan"] = yuan
    return environment


def render_page(request: web.Request, page: str, /, *, status: int = 200, **context: Any) -> web.Response:
    """Render the page template `page` with the viewer, the base path, the CSRF field name and any notice."""
    viewer = request.get(VIEWER)
    base = request.app[BASE_PATH]
    notice = NOTICES.get(request.query.get("notice", ""), "")
    html = (
        request.app[JINJA]
        .get_template(page)
        .render(
            viewer=viewer,
            base=base,
            csrf_field=CSRF_FIELD,
            csrf_token=viewer.csrf_token if viewer else "",
            notice=notice,
            current_path=request.path,
            demo=request.app[SERVICES].settings.demo,
            **context,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def redirect(request: web.Request, path: str, notice: str = "") -> web.HTTPFound:
    """A redirect inside the console (path relative to its base), optionally with a fixed notice."""
    location = request.app[BASE_PATH] + path
    if notice:
        location += ("&" if "?" in location else "?") + f"notice={notice}"
    return web.HTTPFound(location)
