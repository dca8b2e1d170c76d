"""The cross-cutting steps every delivery goes through, and their fixed order.

`DEFAULT_MIDDLEWARES` is the order the Dispatcher runs them in, outermost first:

1. `errors`       - outermost, so a failure anywhere below (database, follower, state, handler) is logged
                    with the message id and the follower still gets a polite answer.
2. `db_session`   - one session per delivery, committed when the handler succeeds, rolled back if not.
3. `follower`     - finds or creates the follower and records the interaction (needs the session).
4. `conversation` - loads the follower's conversation state under its per-follower lock (needs the
                    follower, and holds the lock for the handler only, not for the commit above).

De-duplication is not a middleware: the transport (`gateway.callback`) claims each delivery before it
dispatches, because a retry's answer is the *first* delivery's reply rendered (and encrypted) for the
retry's own request, and the dispatch-or-wait choice decides whether the chain runs at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from gateway.events import WINDOW_EVENTS, Event, Inbound, Message, UnsubscribeEvent
from gateway.replies import Reply, TextReply
from handlers.context import HandlerContext
from handlers.router import CallNext, Middleware
from identity.linking import link_by_unionid
from storage.followers import ensure_follower, record_interaction
from storage.group_commit import group_commit

log = logging.getLogger("scrm.handlers")

POLITE_FALLBACK = "抱歉，系统开小差了，请稍后再试。"

# services.extras["interaction_hooks"]: callables run as `await hook(ctx, event)` after the reply.
InteractionHook = Callable[[HandlerContext, Inbound], Awaitable[None]]


async def errors(event: Inbound, ctx: HandlerContext, call_next: CallNext) -> Reply | None:
    """Log any exception with the message id; answer the follower politely instead of failing."""
    try:
        return await call_next(event, ctx)
    except Exception:
        log.exception(
            "handler failed msg_id=%s kind=%s appid=%s handler=%s",
            event.message_id,
            event.key,
            ctx.account.appid,
            ctx.data.get("handler", "-"),
            extra={"msg_id": event.message_id, "kind": event.key},
        )
        if not event.is_interaction or isinstance(event, UnsubscribeEvent):
            return None  # nobody is there to read an apology
        return TextReply(POLITE_FALLBACK)


async def db_session(event: Inbound, ctx: HandlerContext, call_next: CallNext) -> Reply | None:
    """Give the chain a session and commit its work when the handler returned normally."""
    async with ctx.db.session() as session:
        ctx.session = session
        try:
            reply = await call_next(event, ctx)
            await session.commit()
            return reply
        finally:
            ctx.session = None


async def follower(event: Inbound, ctx: HandlerContext, call_next: CallNext) -> Reply | None:
    """Find or create the follower and record this interaction, committed before the handler runs.

    Committing first makes the interaction durable even when the handler fails. The upsert goes through
    the process's group commit, so concurrent callbacks share one SQLite transaction; the returned row is
    then added to this delivery's session, where handlers change it.
    """
    session = ctx.require_session()
    appid, now = ctx.account.appid, ctx.clock.now()
    writer = group_commit(ctx.db)
    if event.is_interaction:
        unionid = event.raw.get("UnionId")
        found = await record_interaction(
            writer,
            appid=appid,
            openid=event.openid,
            kind=event.key,
            at=now,
            is_message=isinstance(event, Message),
            opens_event_window=isinstance(event, Event) and event.key in WINDOW_EVENTS,
            unionid=unionid if isinstance(unionid, str) else None,
        )
    else:
        found = await ensure_follower(writer, appid=appid, openid=event.openid, at=now)
    session.add(found)
    ctx.follower = found
    # The same person may already be a known customer through the brand's other account. Commit at
    # once, like the interaction: later steps write in their own transactions and would wait on us.
    if found.unionid and found.profile_id is None and await link_by_unionid(session, found, now=now):
        await session.commit()
    if event.is_interaction:
        for hook in ctx.services.extras.get("interaction_hooks", ()):
            ctx.after_reply.append(_bind_hook(hook, ctx, event))
    return await call_next(event, ctx)


def _bind_hook(hook: InteractionHook, ctx: HandlerContext, event: Inbound) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await hook(ctx, event)

    run.__qualname__ = getattr(hook, "__qualname__", repr(hook))
    return run


async def conversation(event: Inbound, ctx: HandlerContext, call_next: CallNext) -> Reply | None:
    """Load the follower's conversation state under its lock (when a "conversations" store exists)."""
    store: Any = ctx.services.extras.get("conversations")
    if store is None:
        return await call_next(event, ctx)
    async with store.lock(ctx.account.appid, event.openid) as state:
        ctx.state = state
        try:
            return await call_next(event, ctx)
        finally:
            ctx.state = None


DEFAULT_MIDDLEWARES: Sequence[Middleware] = (errors, db_session, follower, conversation)

__all__ = [
    "DEFAULT_MIDDLEWARES",
    "POLITE_FALLBACK",
    "InteractionHook",
    "conversation",
    "db_session",
    "errors",
    "follower",
]
