"""The account's custom menu (admins): edit it as YAML or JSON, check it against WeChat's rules, publish it.

Saving keeps a draft (checked by content.menu.parse_menu, every problem listed next to the editor);
publishing sends the saved menu through WeChat's menu API and records it as what followers see, which
is also what the sandbox draws.
"""

from __future__ import annotations

from typing import Any

import yaml
from aiohttp import web

from base.i18n import _
from console.access import admin_only
from console.audit import audit
from console.engine_text import engine_text
from console.keys import SERVICES, VIEWER
from console.rendering import redirect, render_page
from console.security import actor_name
from content.menu import MenuError
from publishing.menu import publish_menu, save_menu
from storage import accounts
from storage.menus import custom_menu
from wechat.api.errors import WeChatError

MAX_SOURCE = 20_000
# What an account with no menu starts from: one of each kind of button, the keys the reply book knows.
STARTER = """button:
  - name: 绑定手机
    type: click
    key: BIND_PHONE
  - name: 更多
    sub_button:
      - name: 官网
        type: view
        url: https://example.com/
"""


def _dump(menu: dict[str, Any]) -> str:
    return yaml.safe_dump(menu, allow_unicode=True, sort_keys=False)


async def menu_page(
    request: web.Request, *, source: str | None = None, problems: list[str] | None = None,
    error: str = "", status: int = 200,
) -> web.StreamResponse:  # fmt: skip
    services = request.app[SERVICES]
    async with services.db.session() as session:
        appid = await accounts.default_appid(session, services.settings.wechat_appid)
        row = await custom_menu(session, appid)
    if source is None:
        source = _dump(row.menu) if row is not None and row.menu else STARTER
    published = row.published if row is not None and row.published else None
    return render_page(
        request, "menu.html", status=status, appid=appid, source=source, problems=problems or [], error=error,
        row=row, published=published, unpublished=row is not None and row.menu != row.published,
    )  # fmt: skip


def _read(source: str) -> tuple[Any, list[str]]:
    if len(source) > MAX_SOURCE:
        return None, [_("The menu is longer than %(size)s characters.") % {"size": MAX_SOURCE}]
    try:
        return yaml.safe_load(source), []
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = _("line %(line)s") % {"line": mark.line + 1} if mark is not None else ""
        return None, [_("This is not valid YAML or JSON (%(where)s).") % {"where": where}]


@admin_only
async def menu_save(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    form = await request.post()
    raw = form.get("menu")
    source = raw if isinstance(raw, str) else ""
    doc, problems = _read(source)
    if problems:
        return await menu_page(request, source=source, problems=problems, status=400)
    async with services.db.session() as session:
        appid = await accounts.default_appid(session, services.settings.wechat_appid)
    by, now = actor_name(request[VIEWER]), services.clock.now()
    try:
        await save_menu(services.db, appid, doc, by=by, now=now)
    except MenuError as error:
        return await menu_page(request, source=source, problems=error.problems, status=400)
    async with services.db.transaction() as session:
        audit(request, session, "console.menu_saved", appid)
    if form.get("action") != "publish":
        raise redirect(request, "/menu", "saved")
    if services.wechat_api is None:
        return await menu_page(request, error=_("No WeChat API client is configured in this process."), status=503)
    try:
        await publish_menu(services.db, services.wechat_api, appid, by=by, now=now)
    except WeChatError as error:
        message = _("WeChat refused the menu: %(error)s") % {"error": engine_text(str(error))}
        return await menu_page(request, error=message, status=502)
    async with services.db.transaction() as session:
        audit(request, session, "console.menu_published", appid)
    raise redirect(request, "/menu", "menu_published")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/menu", admin_only(menu_page))
    router.add_post("/menu", menu_save)
