"""Opt-out and opt-in by keyword: `TD`, `退订`, `取消订阅`, `unsubscribe` stop marketing at once;
`订阅` asks for a new consent and restores it on a yes. Include `optout_router` before keyword handlers.
"""

from __future__ import annotations

from typing import Any

from handlers.context import HandlerContext
from handlers.router import Router, text_in
from identity import messages
from identity.binding import NO_WORDS, YES_WORDS
from identity.consent import has_marketing_consent
from identity.optout import OPT_OUT_WORDS, SUBSCRIBE_WORDS, grant_marketing, withdraw_marketing
from storage.conversations import ConversationState
from wechat.events import TextMessage
from wechat.replies import Reply, TextReply

SUBSCRIBE_FLOW = "subscribe"

optout_router = Router("optout")


def _state(ctx: HandlerContext) -> ConversationState | None:
    return ctx.state if isinstance(ctx.state, ConversationState) else None


def _answering_subscribe(event: Any, ctx: HandlerContext) -> bool:
    state = _state(ctx)
    if state is None or not state.in_flow(SUBSCRIBE_FLOW) or not isinstance(event, TextMessage):
        return False
    typed = event.content.strip().casefold()
    return typed in YES_WORDS or typed in NO_WORDS


@optout_router.on("text", text_in(*OPT_OUT_WORDS))
async def opt_out(event: TextMessage, ctx: HandlerContext) -> Reply | None:
    """Withdraw marketing consent at once, whatever the follower was doing, and confirm."""
    session = ctx.require_session()
    await withdraw_marketing(
        session, ctx.require_follower(), typed=event.content, source="keyword", now=ctx.clock.now()
    )
    state = _state(ctx)
    if state is not None and state.in_flow(SUBSCRIBE_FLOW):
        state.clear()
    # Commit before the conversation store saves the state (SQLite allows one writer at a time).
    await session.commit()
    return TextReply(messages.OPTED_OUT)


@optout_router.on("text", text_in(*SUBSCRIBE_WORDS))
async def ask_to_subscribe(event: TextMessage, ctx: HandlerContext) -> Reply | None:
    """`订阅`: show what the follower would agree to, and wait for a yes."""
    follower = ctx.require_follower()
    assert follower.id is not None
    if await has_marketing_consent(ctx.require_session(), follower.id):
        return TextReply(messages.ALREADY_SUBSCRIBED)
    state = _state(ctx)
    if state is None:
        return TextReply(messages.UNAVAILABLE)
    state.start(SUBSCRIBE_FLOW, "confirm")
    return TextReply(messages.SUBSCRIBE_QUESTION)


@optout_router.on("text", _answering_subscribe)
async def answer_subscribe(event: TextMessage, ctx: HandlerContext) -> Reply | None:
    """A yes records consent to exactly the question shown; a no leaves things as they were."""
    state = _state(ctx)
    assert state is not None
    state.clear()
    if event.content.strip().casefold() in NO_WORDS:
        return TextReply(messages.SUBSCRIBE_DECLINED)
    session = ctx.require_session()
    await grant_marketing(
        session,
        ctx.require_follower(),
        text_shown=messages.SUBSCRIBE_QUESTION,
        source="keyword",
        now=ctx.clock.now(),
    )
    await session.commit()
    return TextReply(messages.SUBSCRIBED)
