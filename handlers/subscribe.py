"""Follows: create or revive the follower, remember the channel, tell the journeys, say welcome."""

from __future__ import annotations

from handlers.context import HandlerContext
from handlers.replybook import help_reply, reply_book
from handlers.router import Router
from storage.events import add_event, follower_event
from storage.followers import mark_subscribed
from wechat.events import SubscribeEvent
from wechat.replies import Reply

subscribe_router = Router("subscribe")


@subscribe_router.on("event.subscribe")
async def welcome_new_follower(event: SubscribeEvent, ctx: HandlerContext) -> Reply | None:
    """A follow, possibly through a channel QR code (`qrscene_<scene>`): subscribed, welcomed, enrolled.

    Never silent: without a welcome in the reply book the follower gets the help instead.
    """
    follower = ctx.require_follower()
    session = ctx.require_session()
    now = ctx.clock.now()
    mark_subscribed(follower, at=now, scene=event.scene)
    session.add(follower)
    # The journeys enrol new followers from this event; its key is the delivery's, so it is published once.
    add_event(
        session,
        follower_event(
            follower, "followed", at=now, payload={"scene": event.scene}, dedup_key=f"followed:{event.dedup_key}"
        ),
    )
    welcome = await reply_book(ctx).welcome(ctx.account.appid, follower, event.scene)
    # No welcome configured (no content loaded yet): the built-in help, as a message would get.
    return welcome if welcome is not None else await help_reply(ctx)
