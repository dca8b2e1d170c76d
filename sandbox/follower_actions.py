"""What a simulated follower can do, each turned into the callback WeChat would send for it.

Every action validates its own input (`from_json`) and refuses what WeChat would not allow either:
only a follower can send messages or click the menu, and only a follower can unfollow.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from base.i18n import N_, _
from sandbox.callbacks import SandboxAccount, callback_xml
from sandbox.chat import SimulatedFollower, Text, phrase
from sandbox.fake_wechat import FakeWeChat

MAX_TEXT = 2000
MAX_SCENE = 64
MAX_MENU_KEY = 128
MAX_MENU_URL = 1024


class ActionError(Exception):
    """A refused request: the HTTP status and a one-line message for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Step:
    """One planned callback and what it changes."""

    openid: str
    kind: str
    caption: Text  # what the chat shows on the follower's side
    xml: str
    subscribed_after: bool
    interaction: str | None  # "message" (48 h window), "event" (1 min window) or None
    follow: bool | None = None  # True: now following, False: unfollowed, None: unchanged
    scene: str | None = None

    def apply_to_fake(self, fake: FakeWeChat, appid: str) -> None:
        """Let the fake WeChat API know, so user/info, 43004 and the window rules match the simulation."""
        if self.follow is not None:
            fake.add_follower(self.openid, appid=appid, subscribed=self.follow, scene=self.scene)
        if self.interaction is not None:
            fake.record_interaction(self.openid, self.interaction)


class FollowerAction(Protocol):
    def plan(self, follower: SimulatedFollower, account: SandboxAccount, create_time: int, msg_id: int) -> Step:
        """The callback for this action by `follower`; raises ActionError when WeChat would not allow it."""
        ...


def _string(body: dict[str, Any], name: str, limit: int, *, required: bool) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ActionError(400, _("%(field)s is required") % {"field": name})
        return ""
    if not isinstance(value, str) or not value.strip():
        raise ActionError(400, _("%(field)s must be non-blank text") % {"field": name})
    if len(value) > limit:
        raise ActionError(400, _("%(field)s must be at most %(limit)d characters") % {"field": name, "limit": limit})
    return value


def _ticket() -> str:
    return "gQ" + secrets.token_urlsafe(30)


def _must_follow(follower: SimulatedFollower, doing: str) -> None:
    """`doing` is an N_ message: what only a follower may do."""
    if not follower.subscribed:
        raise ActionError(409, _("only followers can %(doing)s: follow the account first") % {"doing": _(doing)})


@dataclass(frozen=True)
class Follow:
    """Follow the account, through a channel QR code when `scene` is given."""

    name: ClassVar[str] = "follow"
    scene: str = ""

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Follow:
        return cls(_string(body, "scene", MAX_SCENE, required=False).strip())

    def plan(self, follower: SimulatedFollower, account: SandboxAccount, create_time: int, msg_id: int) -> Step:
        if follower.subscribed:
            raise ActionError(409, _("already following: unfollow first, or scan a QR code"))
        fields: dict[str, str | int] = {"Event": "subscribe", "EventKey": ""}
        if self.scene:
            fields.update(EventKey=f"qrscene_{self.scene}", Ticket=_ticket())
        caption = (
            phrase(N_("followed the account through QR code “%(scene)s”"), scene=self.scene)
            if self.scene
            else phrase(N_("followed the account"))
        )
        xml = callback_xml(account, follower.openid, create_time, "event", **fields)
        return Step(follower.openid, "event", caption, xml, True, "event", True, self.scene or None)


@dataclass(frozen=True)
class Unfollow:
    name: ClassVar[str] = "unfollow"

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Unfollow:
        return cls()

    def plan(self, follower: SimulatedFollower, account: SandboxAccount, create_time: int, msg_id: int) -> Step:
        _must_follow(follower, N_("unfollow"))
        xml = callback_xml(account, follower.openid, create_time, "event", Event="unsubscribe", EventKey="")
        return Step(follower.openid, "event", phrase(N_("unfollowed the account")), xml, False, None, False)


@dataclass(frozen=True)
class Scan:
    """Scan a channel QR code: SCAN for a follower, a subscribe with `qrscene_` for anyone else."""

    name: ClassVar[str] = "scan"
    scene: str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Scan:
        return cls(_string(body, "scene", MAX_SCENE, required=True).strip())

    def plan(self, follower: SimulatedFollower, account: SandboxAccount, create_time: int, msg_id: int) -> Step:
        if not follower.subscribed:
            return Follow(self.scene).plan(follower, account, create_time, msg_id)
        xml = callback_xml(
            account, follower.openid, create_time, "event", Event="SCAN", EventKey=self.scene, Ticket=_ticket()
        )
        caption = phrase(N_("scanned QR code “%(scene)s”"), scene=self.scene)
        return Step(follower.openid, "event", caption, xml, True, "event")


@dataclass(frozen=True)
class SendText:
    name: ClassVar[str] = "text"
    content: str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> SendText:
        return cls(_string(body, "content", MAX_TEXT, required=True))

    def plan(self, follower: SimulatedFollower, account: SandboxAccount, create_time: int, msg_id: int) -> Step:
        _must_follow(follower, N_("send messages"))
        xml = callback_xml(account, follower.openid, create_time, "text", Content=self.content, MsgId=msg_id)
        return Step(follower.openid, "text", self.content, xml, True, "message")


@dataclass(frozen=True)
class ClickMenu:
    name: ClassVar[str] = "click"
    key: str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ClickMenu:
        return cls(_string(body, "key", MAX_MENU_KEY, required=True).strip())

    def plan(self, follower: SimulatedFollower, account: SandboxAccount, create_time: int, msg_id: int) -> Step:
        _must_follow(follower, N_("use the menu"))
        xml = callback_xml(account, follower.openid, create_time, "event", Event="CLICK", EventKey=self.key)
        return Step(
            follower.openid, "event", phrase(N_("tapped menu item “%(key)s”"), key=self.key), xml, True, "event"
        )


@dataclass(frozen=True)
class OpenMenuLink:
    """Tap a VIEW button: WeChat sends a VIEW event with the URL, then opens it (the page opens it too)."""

    name: ClassVar[str] = "view"
    url: str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> OpenMenuLink:
        url = _string(body, "url", MAX_MENU_URL, required=True).strip()
        if not url.startswith(("https://", "http://")):
            raise ActionError(400, _("a menu link is an http(s) URL"))
        return cls(url)

    def plan(self, follower: SimulatedFollower, account: SandboxAccount, create_time: int, msg_id: int) -> Step:
        _must_follow(follower, N_("use the menu"))
        xml = callback_xml(account, follower.openid, create_time, "event", Event="VIEW", EventKey=self.url)
        caption = phrase(N_("opened menu link %(url)s"), url=self.url)
        return Step(follower.openid, "event", caption, xml, True, "event")


class _ActionType(Protocol):
    def from_json(self, body: dict[str, Any]) -> FollowerAction: ...


ACTIONS: dict[str, _ActionType] = {
    action.name: action for action in (Follow, Unfollow, Scan, SendText, ClickMenu, OpenMenuLink)
}
