"""What a profile's timeline says about each thing that happened, in the reader's language.

Domain events keep a small payload (storage.engagement.profile_timeline); these functions turn it into
one short line. A kind added elsewhere and not named here still shows, with its payload's values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from base.i18n import N_, _
from console.labels import label

KINDS = {
    "followed": N_("followed"),
    "unfollowed": N_("unfollowed"),
    "scanned": N_("scanned a QR code"),
    "phone_bound": N_("bound a phone"),
    "first_purchase": N_("first purchase"),
    "repeat_purchase": N_("repeat purchase"),
    "order_completed": N_("order completed"),
    "order_refunded": N_("order refunded"),
    "order": N_("order"),
    "segment_entered": N_("entered a segment"),
    "link_clicked": N_("clicked a link"),
    "menu_tapped": N_("tapped the menu"),
    "keyword_replied": N_("keyword reply"),
    "template_send_result": N_("template message result"),
    "consent_withdrawn": N_("withdrew consent"),
    "no_purchase": N_("no purchase for a while"),
    "push": N_("push"),
    "chat": N_("message"),
}


def kind_name(kind: str) -> str:
    name = KINDS.get(kind)
    return _(name) if name is not None else kind


def _text(value: Any, limit: int = 120) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_event(kind: str, payload: Mapping[str, Any]) -> str:
    """One line about a domain event (or an order) of the timeline."""
    if kind in ("followed", "scanned"):
        scene = _text(payload.get("scene"))
        return _("through channel “%(scene)s”") % {"scene": scene} if scene else _("directly (no channel)")
    if kind == "link_clicked":
        line = _("%(target)s (step %(step)s)") % {
            "target": _text(payload.get("target")),
            "step": _text(payload.get("step")) or "–",
        }
        return line + (" · " + _("forwarded link") if payload.get("forwarded") else "")
    if kind == "menu_tapped":
        return _text(payload.get("key") or payload.get("url"))
    if kind == "keyword_replied":
        return _("keyword “%(keyword)s”") % {"keyword": _text(payload.get("keyword"))}
    if kind == "template_send_result":
        return _text(payload.get("status"))
    if kind == "segment_entered":
        return label(payload.get("segment"), "segment")
    if kind == "order":
        return f"{_text(payload.get('platform'))} {_text(payload.get('order_no'))} · {_text(payload.get('status'))}"
    if kind == "consent_withdrawn":
        return label(payload.get("purpose"), "purpose")
    shown = [f"{key} {_text(value, 40)}" for key, value in payload.items() if isinstance(value, str | int) and value]
    return ", ".join(shown[:4])


def describe_push(step_key: str, status: str) -> str:
    return _("step %(step)s · %(outcome)s") % {"step": step_key or "–", "outcome": label(status, "push")}


def describe_chat(raw: Mapping[str, Any], reply: Mapping[str, Any] | None) -> str:
    """What the follower sent (text, or its kind) and the account's text answer, if any."""
    kind = str(raw.get("MsgType", ""))
    said = _text(raw.get("Content")) if kind == "text" else f"[{kind}]"
    if reply and reply.get("kind") == "text":
        return _("“%(said)s” → answered “%(answer)s”") % {"said": said, "answer": _text(reply.get("content"))}
    return f"“{said}”"
