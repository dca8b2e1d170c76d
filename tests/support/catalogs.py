"""Reading the gettext catalogs in tests: their messages, and the English ones a rendered page still shows."""

from __future__ import annotations

import html
import re
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG_DIRS = {"console": ROOT / "console" / "locale", "sandbox": ROOT / "sandbox" / "locale"}

_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")
# Text between tags, and the attributes a person reads.
_TEXT = re.compile(r">([^<>]+)<")
_ATTRIBUTE = re.compile(r'\s(?:placeholder|title|aria-label|alt)="([^"]*)"')
_SKIPPED = re.compile(r"<(script|style)\b.*?</\1>", re.S)


def catalog(package: str, locale: str) -> Catalog:
    with (CATALOG_DIRS[package] / locale / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=locale)


def _pattern(message: str) -> re.Pattern[str]:
    # Pages are compared with their whitespace collapsed: so is the message.
    message = " ".join(message.split())
    parts = []
    last = 0
    for found in _PLACEHOLDER.finditer(message):
        parts.append(re.escape(message[last : found.start()]))
        parts.append("%" if found.group(0) == "%%" else ".+?")
        last = found.end()
    parts.append(re.escape(message[last:]))
    return re.compile("".join(parts))


@cache
def english_patterns(package: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each English message of the catalog (singular and plural) as a pattern of a whole text."""
    found = []
    for message in catalog(package, "zh_CN"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        for text in (str(one) for one in ids):
            # Messages without a letter of their own ("%(seconds)s s" has one) say nothing in English.
            if re.search(r"[A-Za-z]{2,}", _PLACEHOLDER.sub("", text)):
                found.append((text, _pattern(text)))
    return tuple(found)


def shown_texts(page: str) -> list[str]:
    """The texts a person reads on a page: text nodes and the readable attributes, unescaped."""
    body = _SKIPPED.sub("", page)
    pieces = [html.unescape(text) for text in _TEXT.findall(body)] + [
        html.unescape(value) for value in _ATTRIBUTE.findall(body)
    ]
    return [" ".join(piece.split()) for piece in pieces if piece.strip()]


def untranslated(page: str, package: str = "console") -> list[str]:
    """The English messages of the catalog that a page shows as a whole text: what zh-CN must never show."""
    texts = shown_texts(page)
    return sorted(
        {message for message, pattern in english_patterns(package) for text in texts if pattern.fullmatch(text)}
    )
