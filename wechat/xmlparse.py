"""Callback XML into a plain dict, with no entity expansion.

`<!DOCTYPE>` is refused outright (so no external entities, no billion laughs), the bytes must be UTF-8,
and the root must be `<xml>`. Leaf elements become their text, nested elements a dict, and an element
name that repeats becomes a list, which is how `wechat.events.build_event` expects it.

The dict is built straight from expat's callbacks: an ElementTree built first and walked afterwards
(defusedxml's way) cost three times as much, on every callback.
"""

from __future__ import annotations

from typing import Any
from xml.parsers import expat


class XMLError(ValueError):
    """The body is not a well-formed, UTF-8, DTD-free `<xml>` document."""


class _Refused(Exception):
    """Raised from inside expat when the document declares what this parser never accepts."""


class _Builder:
    """Collects elements into nested dicts while expat reads the document."""

    def __init__(self) -> None:
        self.root_tag: str | None = None
        self.root: dict[str, Any] = {}
        # One frame per open element: its tag, the dict of its children, its text, whether it has children.
        self._stack: list[tuple[str, dict[str, Any], list[str], list[bool]]] = []

    def start(self, tag: str, _attributes: dict[str, str]) -> None:
        if self._stack:
            self._stack[-1][3][0] = True
        elif self.root_tag is None:
            self.root_tag = tag
        self._stack.append((tag, {}, [], [False]))

    def data(self, text: str) -> None:
        if self._stack:
            self._stack[-1][2].append(text)

    def end(self, _tag: str) -> None:
        tag, children, text, has_children = self._stack.pop()
        if not self._stack:
            self.root = children
            return
        # An element with children is a dict (text between them is layout); a leaf is its text.
        value: Any = children if has_children[0] else "".join(text)
        siblings = self._stack[-1][1]
        existing = siblings.get(tag)
        if existing is None:
            siblings[tag] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            siblings[tag] = [existing, value]


def _refuse_dtd(*_args: Any) -> None:
    raise _Refused("DTDForbidden")


def _refuse_entity(*_args: Any) -> int:
    raise _Refused("EntitiesForbidden")


def parse_xml(body: bytes) -> dict[str, Any]:
    """Parse a callback body; raises XMLError with a short reason on anything unexpected."""
    if not body.strip():
        raise XMLError("empty body")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise XMLError(f"body is not UTF-8 (byte {error.start})") from None
    builder = _Builder()
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    # One data call per text node, CDATA sections included, instead of one per buffer chunk.
    parser.buffer_text = True
    try:
        parser.Parse(body, True)
    except _Refused as refusal:
        raise XMLError(f"refused {refusal}: DTDs and entities are not allowed") from None
    except expat.ExpatError as error:
        raise XMLError(f"malformed XML: {error}") from None
    if builder.root_tag != "xml":
        raise XMLError(f"root element is <{builder.root_tag}>, expected <xml>")
    return builder.root


__all__ = ["XMLError", "parse_xml"]
