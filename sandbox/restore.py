"""Bring the simulator's followers and chats back after the demo restarts.

The simulator keeps them in memory, but the database keeps what happened: the followers of the sandbox
account, the callbacks the ledger still holds (a day: `storage.inbound.RETENTION`) with the replies
they got, and the pushes sent, rendered again from their template version with the code they drew.
The fake WeChat API learns the followers and their open windows again, so the first push after a
restart is judged as WeChat would judge it.
"""

from __future__ import annotations

import logging
from typing import Any

from base.i18n import N_
from content.fields import StepContext, build_render_context
from content.sandbox import RenderError
from content.templates import parse_body, render_body
from sandbox.chat import ChatEntry, SimulatedFollower, Text, describe_push, news_entry, phrase
from sandbox.fake_state import RecordedCall
from sandbox.simulator import Simulator
from storage.db import Database
from storage.models.core import Follower, InboundEvent, Profile
from storage.sandbox_history import SentPush, deliveries_of, followers_of, sent_pushes_of

log = logging.getLogger("sandbox.restore")

_RESTORED = phrase(N_("restored from the database after a restart"))


async def restore_chats(db: Database, simulator: Simulator) -> int:
    """Rebuild the followers and chats of the simulator's account from `db`; returns how many followers."""
    appid = simulator.account.appid
    async with db.session() as session:
        people = await followers_of(session, appid)
        deliveries = await deliveries_of(session, appid)
        pushes = await sent_pushes_of(session, appid)
    chats: dict[str, SimulatedFollower] = {}
    for follower, profile in people:
        chats[follower.openid] = _restore_follower(simulator, follower, profile)
    # Entries go in oldest first; the chat sorts by time when it is read, pushes and callbacks together.
    for delivery in deliveries:
        chat = chats.get(delivery.openid)
        if chat is not None:
            for entry in _delivery_entries(delivery):
                simulator.chats.add(chat, entry)
    people_by_id = {follower.id: (follower, profile) for follower, profile in people}
    for sent in pushes:
        chat = chats.get(sent.push.openid)
        person = people_by_id.get(sent.push.follower_id)
        if chat is not None and person is not None:
            simulator.chats.add(chat, _push_entry(sent, *person))
    if chats:
        log.info("sandbox restored %d followers and their chats from the database", len(chats))
    return len(chats)


def _restore_follower(simulator: Simulator, follower: Follower, profile: Profile | None) -> SimulatedFollower:
    # The label typed on the page is not kept anywhere: the profile's name, else the openid, names them.
    label = (profile.name if profile is not None and profile.name else "") or follower.openid[:12]
    chat = simulator.chats.create(follower.openid, label, follower.created_at)
    chat.subscribed = follower.status == "subscribed"
    fake = simulator.fake
    fake.add_follower(follower.openid, appid=follower.appid, subscribed=chat.subscribed, scene=follower.channel_scene)
    if follower.last_message_at is not None:
        fake.windows.interaction(follower.openid, "message", follower.last_message_at)
    if follower.last_event_at is not None:
        fake.windows.interaction(follower.openid, "event", follower.last_event_at)
    return chat


def _delivery_entries(delivery: InboundEvent) -> list[ChatEntry]:
    """What the follower did (from the callback as received) and what the account answered."""
    raw = delivery.payload
    at = delivery.received_at
    entries = [ChatEntry(at, "follower", "you", str(raw.get("MsgType", "event")), _caption(raw))]
    reply = delivery.reply
    if reply:
        entries.append(_reply_entry(reply, at))
    return entries


def _caption(raw: dict[str, Any]) -> Text:
    kind = str(raw.get("MsgType", ""))
    if kind == "text":
        return str(raw.get("Content", ""))
    if kind != "event":
        return f"[{kind}]"
    event, key = str(raw.get("Event", "")), str(raw.get("EventKey") or "")
    if event == "subscribe":
        scene = key.removeprefix("qrscene_")
        if scene:
            return phrase(N_("followed the account through QR code “%(scene)s”"), scene=scene)
        return phrase(N_("followed the account"))
    if event == "unsubscribe":
        return phrase(N_("unfollowed the account"))
    if event == "SCAN":
        return phrase(N_("scanned QR code “%(scene)s”"), scene=key)
    if event == "CLICK":
        return phrase(N_("tapped menu item “%(key)s”"), key=key)
    if event == "VIEW":
        return phrase(N_("opened menu link %(url)s"), url=key)
    return f"[{event}]"


def _reply_entry(reply: dict[str, Any], at: Any) -> ChatEntry:
    """A stored reply (wechat.replies' JSON document) as the bubble it was."""
    kind = str(reply.get("kind", ""))
    if kind == "text":
        return ChatEntry(at, "account", "reply", kind, str(reply.get("content", "")))
    if kind == "news":
        articles = [a for a in reply.get("articles", []) if isinstance(a, dict)]
        return news_entry(at, "reply", articles)
    if kind == "transfer_customer_service":
        return ChatEntry(at, "system", "reply", kind, phrase(N_("handed over to a human customer-service agent")))
    return ChatEntry(at, "account", "reply", kind, f"[{kind}]")


def _push_entry(sent: SentPush, follower: Follower, profile: Profile | None) -> ChatEntry:
    """A sent push rendered again from its template version, for the follower as they are now."""
    push = sent.push
    at = push.sent_at or push.created_at
    step = StepContext(coupon_code=sent.coupon_code, store_link=push.context.get("store_link"))
    try:
        message = render_body(parse_body(sent.body), build_render_context(follower, profile, step, at))
        if push.template_kind == "wechat_template":
            api, payload = "message/template/send", message.template_message(push.openid)
        else:
            api, payload = "message/custom/send", message.customer_service(push.openid)
    except (RenderError, ValueError) as error:
        log.warning("sandbox could not render push %s again: %s", push.id, error)
        return ChatEntry(at, "account", "push", push.template_kind, f"[{push.step_key}]", (_RESTORED,))
    call = RecordedCall(api, payload, {}, at, push.appid, 0, (push.openid,))
    entry = describe_push(call, {})
    return ChatEntry(entry.at, entry.side, entry.source, entry.kind, entry.text, (*entry.detail, _RESTORED))
