"""Custom-menu taps: CLICK keys answered from the reply book; VIEW (a link opened) only recorded.

Both are kept on the follower's timeline as `menu_tapped` events (written after the reply).
"""

from __future__ import annotations

import logging

from handlers.context import HandlerContext
from handlers.replybook import reply_book
from handlers.router import Router
from wechat.events import ClickEvent, ViewEvent
from wechat.replies import Reply

log = logging.getLogger("scrm.handlers.menu")

menu_router = Router("menu")


@menu_router.on("event.click")
async def answer_menu_click(event: ClickEvent, ctx: HandlerContext) -> Reply | None:
    """The reply configured for this menu key; `success` (and a log line) when there is none."""
    reply = await reply_book(ctx).menu(ctx.account.appid, event.event_key)
    ctx.record_signal(event, "menu_tapped", {"type": "click", "key": event.event_key[:128]})
    if reply is None:
        log.info("no reply for menu key=%s appid=%s", event.event_key, ctx.account.appid)
    return reply


@menu_router.on("event.view")
async def record_menu_link(event: ViewEvent, ctx: HandlerContext) -> Reply | None:
    """A menu link was opened: kept on the timeline; WeChat shows no reply."""
    ctx.record_signal(event, "menu_tapped", {"type": "view", "url": event.url[:500]})
    return None
