"""Unfollows: mark the follower gone and tell the journeys (they cancel pending pushes). No reply."""

from __future__ import annotations

from handlers.context import HandlerContext
from handlers.router import Router
from storage.events import add_event, follower_event
from storage.followers import mark_unsubscribed
from wechat.events import UnsubscribeEvent
from wechat.replies import Reply

unsubscribe_router = Router("unsubscribe")


@unsubscribe_router.on("event.unsubscribe")
async def forget_follower(event: UnsubscribeEvent, ctx: HandlerContext) -> Reply | None:
    """The follower left: status unsubscribed, "unfollowed" published; WeChat delivers no reply anyway."""
    follower = ctx.require_follower()
    session = ctx.require_session()
    now = ctx.clock.now()
    mark_unsubscribed(follower, at=now)
    session.add(follower)
    add_event(
        session, follower_event(follower, "unfollowed", at=now, payload={}, dedup_key=f"unfollowed:{event.dedup_key}")
    )
    return None
