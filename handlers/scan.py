"""QR scans by existing followers: remember the scene, publish "scanned", answer from the reply book."""

from __future__ import annotations

from handlers.context import HandlerContext
from handlers.replybook import reply_book
from handlers.router import Router
from storage.events import add_event, follower_event
from storage.followers import mark_scanned
from wechat.events import ScanEvent
from wechat.replies import Reply

scan_router = Router("scan")


@scan_router.on("event.scan")
async def record_scan(event: ScanEvent, ctx: HandlerContext) -> Reply | None:
    """A follower scanned a parametric QR code; EventKey is the raw scene value."""
    follower = ctx.require_follower()
    session = ctx.require_session()
    now = ctx.clock.now()
    mark_scanned(follower, at=now, scene=event.scene)
    session.add(follower)
    add_event(
        session,
        follower_event(
            follower, "scanned", at=now, payload={"scene": event.scene}, dedup_key=f"scanned:{event.dedup_key}"
        ),
    )
    if not event.scene:
        return None
    return await reply_book(ctx).scan(ctx.account.appid, event.scene)
