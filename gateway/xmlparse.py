"""Callback XML into a plain dict, with no entity expansion.

`<!DOCTYPE>` is refused outright (so no external entities, no billion laughs), the bytes must be UTF-8,
and the root must be `<xml>`. Leaf elements become their text, nested elements a dict, and an element
name that repeats becomes a list, which is how `gateway.events.build_event` expects it.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring


class XMLError(ValueError):
    """The body is not a well-formed, UTF-8, DTD-free `<xml>` document."""


def parse_xml(body: bytes) -> dict[str, Any]:
    """Parse a callback body; raises XMLError with a short reason on anything unexpected."""
    if not body.strip():
        raise XMLError("empty body")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise XMLError(f"body is not UTF-8 (byte {error.start})") from None
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise XMLError(f"refused {type(error).__name__}: DTDs and entities are not allowed") from None
    except ParseError as error:
        raise XMLError(f"malformed XML: {error}") from None
    if root.tag != "xml":
        raise XMLError(f"root element is <{root.tag}>, expected <xml>")
    return _children(root)


def _children(element: Element) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for child in element:
        value: Any = _children(child) if len(child) else (child.text or "")
        existing = result.get(child.tag)
        if existing is None:
            result[child.tag] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            result[child.tag] = [existing, value]
    return result


__all__ = ["XMLError", "parse_xml"]
