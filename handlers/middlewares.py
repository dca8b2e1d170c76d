"""The cross-cutting steps every delivery goes through, and their fixed order.

`DEFAULT_MIDDLEWARES` is the order the Dispatcher runs them in, outermost first:

1. `errors`       - outermost, so a failure anywhere below (database, follower, state, handler) is logged
                    with the message id and the follower still gets a polite answer.
2. `db_session`   - one session per delivery (opened on first use), committed when the handler succeeds,
                    rolled back if not.
3. `follower`     - finds or creates the follower and records the interaction (the gateway commits that
                    with the delivery's claim; this step then only takes the recorded row).
4. `conversation` - loads the follower's conversation state under its per-follower lock (needs the
                    follower, and holds the lock for the handler only, not for the commit above).

De-duplication is not a middleware: the transport (`gateway.callback`) claims each delivery before it
dispatches, because a retry's answer is the *first* delivery's reply rendered (and encrypted) for the
retry's own request, and the dispatch-or-wait choice decides whether the chain runs at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from handlers.context import HandlerContext, InteractionHook
from handlers.router import CallNext, Middleware
from identity.linking import link_by_unionid
from storage.followers import FollowerRecord, ensure_write, interaction_write
from storage.group_commit import Write, group_commit
from wechat.events import WINDOW_EVENTS, Event, Inbound, Message, UnsubscribeEvent
from wechat.replies import Reply, TextReply

log = logging.getLogger("scrm.handlers")

POLITE_FALLBACK = "抱歉，系统开小差了，请稍后再试。"


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
            ctx.handler or "-",
            extra={"msg_id": event.message_id, "kind": event.key},
        )
        if not event.is_interaction or isinstance(event, UnsubscribeEvent):
            return None  # nobody is there to read an apology
        return TextReply(POLITE_FALLBACK)


async def db_session(event: Inbound, ctx: HandlerContext, call_next: CallNext) -> Reply | None:
    """Give the chain a session and commit its work when the handler returned normally.

    The session is opened only when something below asks for it (`ctx.session`, `ctx.follower`): a
    callback whose handler needs no database work costs no session at all.
    """
    ctx.open_session_scope(ctx.db.session)
    try:
        reply = await call_next(event, ctx)
    except BaseException:
        session = ctx.close_session_scope()
        if session is not None:
            await session.close()  # rolls back what the failed handler left
        raise
    session = ctx.close_session_scope()
    if session is not None:
        try:
            await session.commit()
        finally:
            await session.close()
    return reply


def follower_write(event: Inbound, appid: str, at: datetime) -> Write[FollowerRecord]:
    """The follower write of a delivery: create it if unknown and, for an interaction, stamp it."""
    if not event.is_interaction:
        return ensure_write(appid=appid, openid=event.openid, at=at)
    unionid = event.raw.get("UnionId")
    return interaction_write(
        appid=appid,
        openid=event.openid,
        kind=event.key,
        at=at,
        is_message=isinstance(event, Message),
        opens_event_window=isinstance(event, Event) and event.key in WINDOW_EVENTS,
        unionid=unionid if isinstance(unionid, str) else None,
    )


class _Follower:
    """Find or create the follower and record this interaction, committed before the handler runs.

    Committing first makes the interaction durable even when the handler fails. The gateway normally
    commits `write_with_claim` (`follower_write`) together with the delivery's claim (one transaction,
    see `storage.inbound.claim_and_write`) and leaves the row in `ctx.follower_record`; otherwise (a
    dispatcher fed directly, or that write failed) it is written here, through the process's group commit.
    """

    def write_with_claim(self, event: Inbound, appid: str, at: datetime) -> Write[FollowerRecord]:
        return follower_write(event, appid, at)

    async def __call__(self, event: Inbound, ctx: HandlerContext, call_next: CallNext) -> Reply | None:
        if ctx.follower_record is None:
            write = follower_write(event, ctx.account.appid, ctx.clock.now())
            ctx.follower_record = await group_commit(ctx.db).run(write)
        record = ctx.follower_record
        # The same person may already be a known customer through the brand's other account. Commit at
        # once, like the interaction: later steps write in their own transactions and would wait on us.
        if record.unionid and record.profile_id is None:
            session, found = ctx.require_session(), ctx.require_follower()
            if await link_by_unionid(session, found, now=ctx.clock.now()):
                await session.commit()
        if event.is_interaction:
            for hook in ctx.services.interaction_hooks:
                ctx.after_reply.append(_bind_hook(hook, ctx, event))
        return await call_next(event, ctx)


follower = _Follower()


def _bind_hook(hook: InteractionHook, ctx: HandlerContext, event: Inbound) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await hook(ctx, event)

    run.__qualname__ = getattr(hook, "__qualname__", repr(hook))
    return run


async def conversation(event: Inbound, ctx: HandlerContext, call_next: CallNext) -> Reply | None:
    """Load the follower's conversation state under its lock (when a "conversations" store exists).

    A follower the delivery's claim found in no conversation costs no lease and no read (`idle`).
    """
    store = ctx.services.conversations
    if store is None:
        return await call_next(event, ctx)
    record = ctx.follower_record
    idle = record is not None and not record.in_conversation
    async with store.lock(ctx.account.appid, event.openid, idle=idle) as state:
        ctx.state = state
        try:
            return await call_next(event, ctx)
        finally:
            ctx.state = None


DEFAULT_MIDDLEWARES: Sequence[Middleware] = (errors, db_session, follower, conversation)

__all__ = [
    "DEFAULT_MIDDLEWARES",
    "POLITE_FALLBACK",
    "conversation",
    "db_session",
    "errors",
    "follower",
    "follower_write",
]
