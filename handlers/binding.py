"""Handlers of the phone-binding conversation (`绑定` or the `BIND_PHONE` menu key); logic in identity.binding.

Include `binding_router` before keyword handlers: while a follower is in the flow, their text belongs to it.
"""

from __future__ import annotations

import logging
from typing import Any

from base.clock import real_clock
from handlers.context import HandlerContext
from handlers.router import Router, key_is, text_in
from identity import binding, messages
from identity.optout import OPT_OUT_WORDS
from storage.conversations import ConversationState
from wechat.events import TextMessage
from wechat.replies import Reply, TextReply

log = logging.getLogger("scrm.handlers.binding")

START_WORDS = ("绑定", "绑定手机", "绑定手机号")
CANCEL_WORDS = ("取消", "退出")
MENU_KEY = "BIND_PHONE"
# Flows whose `取消` this router answers (the subscribe confirmation lives in handlers.optout).
OWN_FLOWS = frozenset({binding.FLOW, "subscribe"})

binding_router = Router("binding")


def _state(ctx: HandlerContext) -> ConversationState | None:
    state = ctx.state
    return state if isinstance(state, ConversationState) else None


def _in_own_flow(_event: Any, ctx: HandlerContext) -> bool:
    state = _state(ctx)
    return state is not None and state.flow in OWN_FLOWS


def _in_binding(event: Any, ctx: HandlerContext) -> bool:
    state = _state(ctx)
    # An opt-out word always reaches the opt-out handler, even mid-binding.
    return (
        state is not None
        and state.in_flow(binding.FLOW)
        and isinstance(event, TextMessage)
        and event.content.strip().casefold() not in OPT_OUT_WORDS
    )


def _binding_timed_out(event: Any, ctx: HandlerContext) -> bool:
    state = _state(ctx)
    return (
        state is not None
        and state.flow is None
        and state.timed_out_flow == binding.FLOW
        and isinstance(event, TextMessage)
        and event.content.strip().casefold() not in OPT_OUT_WORDS
    )


def _context(ctx: HandlerContext, state: ConversationState) -> binding.BindingContext:
    return binding.BindingContext(
        session=ctx.require_session(),
        follower=ctx.require_follower(),
        state=state,
        vault=ctx.services.vault,
        sms=ctx.services.sms_sender,
        now=ctx.clock.now(),
        pepper=ctx.settings.data_key,
        wall_now=real_clock(ctx.clock).now(),
    )


async def _commit(ctx: HandlerContext) -> None:
    # Commit now rather than in the session middleware: the conversation store saves the state in its own
    # transaction when the handler returns, and on SQLite that write would wait on ours.
    await ctx.require_session().commit()


@binding_router.on("text", text_in(*CANCEL_WORDS), _in_own_flow)
async def cancel_flow(event: TextMessage, ctx: HandlerContext) -> Reply | None:
    """`取消` leaves binding (or the subscribe confirmation) at any step."""
    state = _state(ctx)
    assert state is not None
    return TextReply(binding.cancel(state))


@binding_router.on("text", text_in(*START_WORDS))
async def start_binding_by_text(event: TextMessage, ctx: HandlerContext) -> Reply | None:
    """`绑定` starts (or restarts) the flow."""
    return await _start(ctx)


@binding_router.on("event.click", key_is(MENU_KEY))
async def start_binding_by_menu(event: Any, ctx: HandlerContext) -> Reply | None:
    """The `BIND_PHONE` menu item starts (or restarts) the flow."""
    return await _start(ctx)


async def _start(ctx: HandlerContext) -> Reply:
    state = _state(ctx)
    if state is None:
        log.error("binding requested but no conversation store is configured")
        return TextReply(messages.UNAVAILABLE)
    reply = await binding.start(_context(ctx, state))
    await _commit(ctx)
    return TextReply(reply)


@binding_router.on("text", _in_binding)
async def continue_binding(event: TextMessage, ctx: HandlerContext) -> Reply | None:
    """Any other text while binding is the answer to the current step."""
    state = _state(ctx)
    assert state is not None
    reply = await binding.advance(_context(ctx, state), event.content)
    await _commit(ctx)
    return TextReply(reply)


@binding_router.on("text", _binding_timed_out)
async def binding_timed_out(event: TextMessage, ctx: HandlerContext) -> Reply | None:
    """The first text after a binding expired says so, instead of being taken for something else."""
    return TextReply(messages.TIMED_OUT)
