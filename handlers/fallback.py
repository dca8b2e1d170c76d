"""Everything no feature router took: platform notices are acknowledged, other messages answered politely.

`notices_router` takes the events that need no answer (LOCATION reports, send-job results, subscription
notice consent changes). LOCATION, which can arrive every 5 seconds, does no database work (the
interaction itself is already recorded by the follower middleware); a send-job result is matched to what
we sent and kept: a template message's to its push and the follower's timeline, a mass send's counts to
its batch. `fallback_router` must come last.
"""

from __future__ import annotations

import logging
from typing import Any

from handlers.context import HandlerContext
from handlers.router import Router
from storage.engagement import record_mass_send_result as mass_send_result
from storage.engagement import record_template_result as template_result
from wechat.events import (
    Event,
    Inbound,
    MassSendJobFinishEvent,
    SubscribeMsgEvent,
    TemplateSendJobFinishEvent,
    UnknownEvent,
    UnknownMessage,
)
from wechat.replies import Reply, TextReply

log = logging.getLogger("scrm.handlers.fallback")

DEFAULT_MESSAGE_REPLY = "已收到您的消息，我们会尽快回复。回复「帮助」查看可以做什么。"

notices_router = Router("notices")
fallback_router = Router("fallback")


@notices_router.on("event.location")
async def accept_location(event: Event, ctx: HandlerContext) -> Reply | None:
    return None


@notices_router.on("event.templatesendjobfinish")
async def record_template_result(event: TemplateSendJobFinishEvent, ctx: HandlerContext) -> Reply | None:
    """Match the result to the push that sent the message; it goes on the follower's timeline."""
    log.info(
        "template message result msg_id=%s status=%s openid=%s appid=%s",
        event.msg_id,
        event.status,
        event.openid,
        ctx.account.appid,
    )
    if not event.msg_id:
        return None
    found = await template_result(
        ctx.require_session(), appid=ctx.account.appid, msg_id=event.msg_id, status=event.status, at=ctx.clock.now()
    )
    payload: dict[str, Any] = {"msg_id": event.msg_id, "status": event.status[:40]}
    if found is not None:
        payload["push_id"] = found.push_id
    ctx.record_signal(event, "template_send_result", payload)
    return None


@notices_router.on("event.masssendjobfinish")
async def record_mass_send_result(event: MassSendJobFinishEvent, ctx: HandlerContext) -> Reply | None:
    """Keep WeChat's counts for the mass-send batch (the console's mass-send results read them)."""
    if event.msg_id:
        await mass_send_result(
            ctx.require_session(), appid=ctx.account.appid, msg_id=event.msg_id, status=event.status,
            counts={"total_count": event.total_count, "filter_count": event.filter_count,
                    "sent_count": event.sent_count, "error_count": event.error_count},
            at=ctx.clock.now(),
        )  # fmt: skip
    log.info(
        "mass send result msg_id=%s status=%s sent=%d errors=%d total=%d appid=%s",
        event.msg_id,
        event.status,
        event.sent_count,
        event.error_count,
        event.total_count,
        ctx.account.appid,
    )
    return None


async def _log_subscribe_msg(event: SubscribeMsgEvent, ctx: HandlerContext) -> Reply | None:
    outcomes = ",".join(
        f"{item.get('TemplateId', '?')}={item.get('SubscribeStatusString', '?')}" for item in event.items
    )
    log.info("subscription notice %s openid=%s outcomes=%s", event.event, event.openid, outcomes or "-")
    return None


for _key in ("event.subscribe_msg_popup_event", "event.subscribe_msg_change_event", "event.subscribe_msg_sent_event"):
    notices_router.on(_key)(_log_subscribe_msg)


@fallback_router.on("*")
async def answer_anything_else(event: Inbound, ctx: HandlerContext) -> Reply | None:
    """Unknown kinds are logged and get `success`; events get `success`; messages a polite default."""
    if isinstance(event, UnknownMessage | UnknownEvent):
        log.info(
            "unknown callback kind=%s msg_id=%s appid=%s: answered success",
            event.key,
            event.message_id,
            ctx.account.appid,
        )
        return None
    if isinstance(event, Event):
        return None
    return TextReply(DEFAULT_MESSAGE_REPLY)
