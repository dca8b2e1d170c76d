"""The two seams the dispatcher talks through: sending to WeChat and rendering a template version.

The dispatcher depends on these small protocols only; `journeys.adapters` binds them to the real WeChat
client (wechat.api) and the content renderer, and tests may bind them to anything that obeys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class PushSender(Protocol):
    """Outbound calls a push can make. Errors are wechat.api.errors.WeChatError subclasses."""

    async def send_custom(self, appid: str, payload: dict[str, Any]) -> None:
        """POST /cgi-bin/message/custom/send with a complete payload (touser included)."""
        ...

    async def send_template(self, appid: str, payload: dict[str, Any]) -> str:
        """POST /cgi-bin/message/template/send with a complete payload (touser included); returns the msgid.

        The msgid ("" if WeChat gave none) matches the TEMPLATESENDJOBFINISH that reports the delivery.
        """
        ...

    async def mass_send(self, appid: str, payload: dict[str, Any]) -> str:
        """POST /cgi-bin/message/mass/send (openid list + clientmsgid); returns WeChat's msg_id."""
        ...


@dataclass(frozen=True)
class RenderRequest:
    """Everything needed to turn a recorded template version into an API payload for one follower."""

    push_id: int
    template_version_id: int
    template_kind: str
    appid: str
    openid: str
    follower_id: int
    profile_id: int | None
    context: dict[str, Any] = field(default_factory=dict)


class RenderFailed(Exception):
    """The template version cannot be rendered for this follower (the editor must fix it)."""


class PushRenderer(Protocol):
    async def render_many(self, requests: Sequence[RenderRequest]) -> list[dict[str, Any] | RenderFailed]:
        """The API payload (custom or template message) of each push, or why it cannot be rendered.

        Batched so an implementation loads followers, profiles and template versions once per batch.
        """
        ...
