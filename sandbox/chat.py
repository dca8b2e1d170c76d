"""The simulator's chat: simulated followers, what each said and was answered, merged with their pushes.

Replies are the gateway's HTTP answers; pushes are the sends the fake WeChat API recorded for that
openid. Everything here is plain data: the page escapes it when it shows it.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from base.clock import CHINA
from base.i18n import N_, _
from sandbox.fake_state import RecordedCall

# Shown by WeChat when an account answers late, empty or malformed.
SERVICE_UNAVAILABLE = "该公众号暂时无法提供服务，请稍后再试"
_PUSH_LABELS = {
    "message/custom/send": N_("customer-service message"),
    "message/template/send": N_("template message"),
    "message/subscribe/bizsend": N_("subscription notice"),
    "message/mass/send": N_("mass send"),
    "message/mass/sendall": N_("mass send"),
}


@dataclass(frozen=True)
class Phrase:
    """Words of the simulator itself in a chat, translated each time the chat is read, into the reader's
    language (what followers typed and the account answered are kept as they were)."""

    message: str
    params: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        translated = _(self.message)
        return translated % dict(self.params) if self.params else translated


def phrase(message: str, **params: object) -> Phrase:
    """A Phrase from an N_-marked message and its `%(name)s` values."""
    return Phrase(message, tuple((name, str(value)) for name, value in params.items()))


Text = str | Phrase


@dataclass(frozen=True)
class ChatEntry:
    """One bubble of the chat."""

    at: datetime
    side: str  # "follower" (right), "account" (left) or "system" (centred notes)
    source: str  # "you", "reply", "push", "system"
    kind: str  # "text", "news", "event", "template", ...
    text: Text
    detail: tuple[Text, ...] = ()
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "time": self.at.astimezone(CHINA).strftime("%H:%M:%S"),
            "side": self.side,
            "source": self.source,
            "kind": self.kind,
            "text": str(self.text),
            "detail": [str(line) for line in self.detail],
        }


@dataclass
class SimulatedFollower:
    openid: str
    label: str
    subscribed: bool = False
    created_at: datetime | None = None
    entries: list[ChatEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"openid": self.openid, "label": self.label, "subscribed": self.subscribed}


def new_openid() -> str:
    """An openid shaped like WeChat's (28 characters starting with "o")."""
    return "o" + secrets.token_urlsafe(20)[:27]


class ChatBook:
    """Simulated followers and their conversations, in memory (the sandbox runs in one process)."""

    def __init__(self) -> None:
        self.followers: dict[str, SimulatedFollower] = {}
        self._seq = itertools.count(1)

    def create(self, openid: str, label: str, at: datetime) -> SimulatedFollower:
        follower = self.followers.get(openid)
        if follower is None:
            number = len(self.followers) + 1
            follower = SimulatedFollower(openid, label or _("Follower %(number)d") % {"number": number}, created_at=at)
            self.followers[openid] = follower
        return follower

    def add(self, follower: SimulatedFollower, entry: ChatEntry) -> ChatEntry:
        numbered = ChatEntry(entry.at, entry.side, entry.source, entry.kind, entry.text, entry.detail, next(self._seq))
        follower.entries.append(numbered)
        return numbered


def describe_reply(reply: dict[str, Any], at: datetime) -> ChatEntry:
    """A decoded passive reply as a chat bubble."""
    kind = str(reply.get("MsgType", ""))
    if kind == "text":
        return ChatEntry(at, "account", "reply", kind, str(reply.get("Content", "")))
    if kind == "news":
        items = (reply.get("Articles") or {}).get("item", [])
        articles = items if isinstance(items, list) else [items]
        return news_entry(at, "reply", [{k.lower(): v for k, v in a.items()} for a in articles if isinstance(a, dict)])
    if kind == "transfer_customer_service":
        return ChatEntry(at, "system", "reply", kind, phrase(N_("handed over to a human customer-service agent")))
    media = reply.get(kind.capitalize())
    media_id = media.get("MediaId", "") if isinstance(media, dict) else ""
    return ChatEntry(at, "account", "reply", kind, f"[{kind}]", (f"media_id {media_id}",) if media_id else ())


def news_entry(at: datetime, source: str, articles: list[dict[str, Any]]) -> ChatEntry:
    """Articles as one bubble: the first one's title, its description and link, then the others' titles."""
    if not articles:
        return ChatEntry(at, "account", source, "news", phrase(N_("[news without articles]")))
    first = articles[0]
    detail = [str(first.get("description") or first.get("digest") or "")]
    detail += [str(first.get("url") or first.get("content_source_url") or "")]
    detail += [f"+ {a.get('title', '')}" for a in articles[1:]]
    return ChatEntry(at, "account", source, "news", str(first.get("title", "")), tuple(d for d in detail if d))


def describe_push(call: RecordedCall, news: dict[str, list[dict[str, Any]]]) -> ChatEntry:
    """A send recorded by the fake WeChat API as a chat bubble; `news` resolves mass-send media ids."""
    body = call.json or {}
    # Pushes are described afresh each time the chat is read, so plain translation is enough here.
    label = _(_PUSH_LABELS[call.api]) if call.api in _PUSH_LABELS else call.api
    if call.api in ("message/template/send", "message/subscribe/bizsend"):
        data = _dict(body.get("data"))
        lines = tuple(
            f"{key}: {value.get('value', '') if isinstance(value, dict) else value}" for key, value in data.items()
        )
        return ChatEntry(call.at, "account", "push", "template", f"{label} {body.get('template_id', '')}", lines)
    msgtype = str(body.get("msgtype", ""))
    content = _dict(body.get(msgtype))
    if msgtype == "text":
        return ChatEntry(call.at, "account", "push", "text", str(content.get("content", "")), (label,))
    if msgtype == "news":
        entry = news_entry(call.at, "push", [a for a in content.get("articles", []) if isinstance(a, dict)])
        return ChatEntry(entry.at, entry.side, entry.source, entry.kind, entry.text, (*entry.detail, label))
    if msgtype == "mpnews":
        articles = news.get(str(content.get("media_id", "")), [])
        entry = news_entry(call.at, "push", articles)
        return ChatEntry(entry.at, entry.side, entry.source, entry.kind, entry.text, (*entry.detail, label))
    return ChatEntry(call.at, "account", "push", msgtype or "unknown", f"[{msgtype}]", (label,))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def merged_chat(follower: SimulatedFollower, pushes: list[ChatEntry], limit: int = 200) -> list[dict[str, Any]]:
    """The follower's own entries and their pushes in time order, the newest `limit` of them."""
    ordered = sorted([*follower.entries, *pushes], key=lambda entry: (entry.at, entry.source == "push", entry.seq))
    return [entry.to_json() for entry in ordered[-limit:]]
