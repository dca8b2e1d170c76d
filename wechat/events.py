"""Typed inbound messages and events, built once at the edge from the parsed callback XML.

Dispatch is on an explicit key: `"text"`, `"image"`, ..., `"event.subscribe"`, `"event.click"`...
Kinds this module does not know become `UnknownMessage` / `UnknownEvent`: a log line, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Events that open the short customer-service window (1 minute, 3 messages).
WINDOW_EVENTS = frozenset({"event.subscribe", "event.scan", "event.click"})
# Platform notifications about our own sends; they are not interactions of the follower.
NOT_INTERACTIONS = frozenset(
    {"event.templatesendjobfinish", "event.masssendjobfinish", "event.subscribe_msg_sent_event"}
)


@dataclass(frozen=True)
class Inbound:
    """Fields every callback carries."""

    to_user: str
    from_user: str
    create_time: int
    msg_type: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def openid(self) -> str:
        return self.from_user

    @property
    def key(self) -> str:
        return self.msg_type

    @property
    def dedup_key(self) -> str:
        return f"{self.from_user}:{self.create_time}:{self.key}"

    @property
    def message_id(self) -> str:
        """What logs call this delivery: the MsgId, or the event's de-duplication key."""
        return self.dedup_key

    @property
    def is_interaction(self) -> bool:
        """Whether the follower did this (opening a customer-service window) or WeChat reports to us."""
        return self.key not in NOT_INTERACTIONS


@dataclass(frozen=True)
class Message(Inbound):
    msg_id: str = ""

    @property
    def dedup_key(self) -> str:
        # MsgId alone has collided across users: key on the sender too.
        if self.msg_id:
            return f"msg:{self.from_user}:{self.msg_id}"
        return f"msg:{self.from_user}:{self.create_time}:{self.msg_type}"

    @property
    def message_id(self) -> str:
        return self.msg_id or self.dedup_key


@dataclass(frozen=True)
class TextMessage(Message):
    content: str = ""


@dataclass(frozen=True)
class ImageMessage(Message):
    pic_url: str = ""
    media_id: str = ""


@dataclass(frozen=True)
class VoiceMessage(Message):
    media_id: str = ""
    format: str = ""
    recognition: str = ""


@dataclass(frozen=True)
class VideoMessage(Message):
    media_id: str = ""
    thumb_media_id: str = ""


@dataclass(frozen=True)
class ShortVideoMessage(VideoMessage):
    pass


@dataclass(frozen=True)
class LocationMessage(Message):
    latitude: float = 0.0
    longitude: float = 0.0
    scale: int = 0
    label: str = ""


@dataclass(frozen=True)
class LinkMessage(Message):
    title: str = ""
    description: str = ""
    url: str = ""


@dataclass(frozen=True)
class UnknownMessage(Message):
    pass


@dataclass(frozen=True)
class Event(Inbound):
    event: str = ""
    event_key: str = ""

    @property
    def key(self) -> str:
        return f"event.{self.event.lower()}"

    @property
    def dedup_key(self) -> str:
        return f"evt:{self.from_user}:{self.create_time}:{self.event}:{self.event_key}"


@dataclass(frozen=True)
class SubscribeEvent(Event):
    """A follow; `scene` is set when it came through a parametric QR code (`qrscene_<scene>`)."""

    scene: str | None = None
    ticket: str = ""


@dataclass(frozen=True)
class UnsubscribeEvent(Event):
    pass


@dataclass(frozen=True)
class ScanEvent(Event):
    """A follower scanned a parametric QR code; EventKey is the raw scene value."""

    scene: str = ""
    ticket: str = ""


@dataclass(frozen=True)
class ClickEvent(Event):
    pass


@dataclass(frozen=True)
class ViewEvent(Event):
    @property
    def url(self) -> str:
        return self.event_key


@dataclass(frozen=True)
class LocationEvent(Event):
    latitude: float = 0.0
    longitude: float = 0.0
    precision: float = 0.0


@dataclass(frozen=True)
class TemplateSendJobFinishEvent(Event):
    msg_id: str = ""
    status: str = ""


@dataclass(frozen=True)
class MassSendJobFinishEvent(Event):
    msg_id: str = ""
    status: str = ""
    total_count: int = 0
    filter_count: int = 0
    sent_count: int = 0
    error_count: int = 0


@dataclass(frozen=True)
class SubscribeMsgEvent(Event):
    """subscribe_msg_popup_event / _change_event / _sent_event: a list of per-template outcomes."""

    items: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class UnknownEvent(Event):
    pass


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name, "")
    return value if isinstance(value, str) else ""


def _float(raw: dict[str, Any], name: str) -> float:
    try:
        return float(_text(raw, name) or 0)
    except ValueError:
        return 0.0


def _int(raw: dict[str, Any], name: str) -> int:
    try:
        return int(_text(raw, name) or 0)
    except ValueError:
        return 0


def _items(raw: dict[str, Any], container: str) -> tuple[dict[str, str], ...]:
    node = raw.get(container)
    if not isinstance(node, dict):
        return ()
    entries = node.get("List", [])
    if isinstance(entries, dict):
        entries = [entries]
    return tuple({k: v for k, v in entry.items() if isinstance(v, str)} for entry in entries if isinstance(entry, dict))


class MalformedCallback(ValueError):
    """The callback lacks a field every callback must have."""


def build_event(raw: dict[str, Any]) -> Inbound:
    """Turn a parsed callback (element name -> text, nested dicts for lists) into a typed value."""
    for required in ("ToUserName", "FromUserName", "MsgType"):
        if not _text(raw, required):
            raise MalformedCallback(f"missing <{required}>")
    create_time_text = _text(raw, "CreateTime")
    if not create_time_text.isdigit():
        raise MalformedCallback("missing or non-numeric <CreateTime>")
    base: dict[str, Any] = {
        "to_user": _text(raw, "ToUserName"),
        "from_user": _text(raw, "FromUserName"),
        "create_time": int(create_time_text),
        "msg_type": _text(raw, "MsgType").lower(),
        "raw": raw,
    }
    msg_type = base["msg_type"]
    if msg_type == "event":
        return _build_event(raw, base)
    msg: dict[str, Any] = {**base, "msg_id": _text(raw, "MsgId")}
    if msg_type == "text":
        return TextMessage(**msg, content=_text(raw, "Content"))
    if msg_type == "image":
        return ImageMessage(**msg, pic_url=_text(raw, "PicUrl"), media_id=_text(raw, "MediaId"))
    if msg_type == "voice":
        return VoiceMessage(
            **msg,
            media_id=_text(raw, "MediaId"),
            format=_text(raw, "Format"),
            recognition=_text(raw, "Recognition"),
        )
    if msg_type in ("video", "shortvideo"):
        cls = VideoMessage if msg_type == "video" else ShortVideoMessage
        return cls(**msg, media_id=_text(raw, "MediaId"), thumb_media_id=_text(raw, "ThumbMediaId"))
    if msg_type == "location":
        return LocationMessage(
            **msg,
            latitude=_float(raw, "Location_X"),
            longitude=_float(raw, "Location_Y"),
            scale=_int(raw, "Scale"),
            label=_text(raw, "Label"),
        )
    if msg_type == "link":
        return LinkMessage(
            **msg, title=_text(raw, "Title"), description=_text(raw, "Description"), url=_text(raw, "Url")
        )
    return UnknownMessage(**msg)


def _build_event(raw: dict[str, Any], base: dict[str, Any]) -> Event:
    name = _text(raw, "Event")
    evt: dict[str, Any] = {**base, "event": name, "event_key": _text(raw, "EventKey")}
    lowered = name.lower()
    if lowered == "subscribe":
        key = evt["event_key"]
        scene = key[len("qrscene_") :] if key.startswith("qrscene_") else None
        return SubscribeEvent(**evt, scene=scene or None, ticket=_text(raw, "Ticket"))
    if lowered == "unsubscribe":
        return UnsubscribeEvent(**evt)
    if lowered == "scan":
        return ScanEvent(**evt, scene=evt["event_key"], ticket=_text(raw, "Ticket"))
    if lowered == "click":
        return ClickEvent(**evt)
    if lowered == "view":
        return ViewEvent(**evt)
    if lowered == "location":
        return LocationEvent(
            **evt,
            latitude=_float(raw, "Latitude"),
            longitude=_float(raw, "Longitude"),
            precision=_float(raw, "Precision"),
        )
    if lowered == "templatesendjobfinish":
        # This one event spells it MsgID.
        return TemplateSendJobFinishEvent(
            **evt, msg_id=_text(raw, "MsgID") or _text(raw, "MsgId"), status=_text(raw, "Status")
        )
    if lowered == "masssendjobfinish":
        return MassSendJobFinishEvent(
            **evt,
            msg_id=_text(raw, "MsgID") or _text(raw, "MsgId"),
            status=_text(raw, "Status"),
            total_count=_int(raw, "TotalCount"),
            filter_count=_int(raw, "FilterCount"),
            sent_count=_int(raw, "SentCount"),
            error_count=_int(raw, "ErrorCount"),
        )
    containers = {
        "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
        "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
        "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
    }
    if lowered in containers:
        return SubscribeMsgEvent(**evt, items=_items(raw, containers[lowered]))
    return UnknownEvent(**evt)
