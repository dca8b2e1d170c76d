"""Tracked links in a rendered message: every declared link target is replaced by its tracked link.

A template declares the targets a follower may be sent to (`links:` in its YAML, https only). At send
time `rewrite_links` finds each link of the rendered message (in a text, an article's link, a template
message's link, a mass-send article's source link and the links of its HTML) and, when it is a declared
target, puts the tracked link in its place (`tracked(index)`, index into the declared list). A link the
template did not declare goes out as it is, untracked: only declared targets are ever reached through
`/l/<token>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from content.templates import RenderedMessage
from wechat.replies import NewsReply, TextReply

# A link in running text ends at whitespace, quotes, brackets and full-width punctuation.
_LINK = re.compile(r"https?://[^\s<>\"'，。！？、；：（）()]+")
# ASCII punctuation that ends a sentence after a link rather than belonging to it.
_TRAILING = ".,;:!?"


class _Rewriter:
    def __init__(self, declared: Sequence[str], tracked: Callable[[int], str]) -> None:
        self.index = {target: i for i, target in enumerate(declared)}
        self.tracked = tracked
        self.minted: dict[int, str] = {}
        self.used: set[int] = set()

    def link(self, url: str) -> str:
        """A whole link field: replaced when declared."""
        position = self.index.get(url)
        if position is None:
            return url
        if position not in self.minted:
            self.minted[position] = self.tracked(position)
        self.used.add(position)
        return self.minted[position]

    def text(self, text: str) -> str:
        """Running text or HTML: every declared link in it."""

        def swap(match: re.Match[str]) -> str:
            found = match.group(0)
            stripped = found.rstrip(_TRAILING)
            return self.link(stripped) + found[len(stripped) :]

        return _LINK.sub(swap, text) if "http" in text else text


def rewrite_links(
    message: RenderedMessage, declared: Sequence[str], tracked: Callable[[int], str]
) -> tuple[RenderedMessage, frozenset[int]]:
    """The message with declared targets replaced by tracked links, and the indexes that were replaced."""
    if not declared:
        return message, frozenset()
    rewriter = _Rewriter(declared, tracked)
    reply = message.reply
    if isinstance(reply, TextReply):
        reply = TextReply(rewriter.text(reply.content))
    elif isinstance(reply, NewsReply):
        articles = tuple(
            replace(a, url=rewriter.link(a.url), description=rewriter.text(a.description)) for a in reply.articles
        )
        reply = NewsReply(articles=articles)
    payload: dict[str, Any] | None = message.payload
    if payload is not None and message.kind == "wechat_template" and payload.get("url"):
        payload = {**payload, "url": rewriter.link(str(payload["url"]))}
    elif payload is not None and message.kind == "mass_news":
        articles_doc = [
            {
                **article,
                "content": rewriter.text(str(article["content"])),
                "content_source_url": rewriter.link(str(article["content_source_url"])),
            }
            for article in payload["articles"]
        ]
        payload = {**payload, "articles": articles_doc}
    return replace(message, reply=reply, payload=payload), frozenset(rewriter.used)


def check_declared_links(links: Sequence[str]) -> list[tuple[int, str]]:
    """Problems of a declared-links list, each with the entry's index."""
    problems: list[tuple[int, str]] = []
    seen: set[str] = set()
    if len(links) > 255:
        problems.append((255, "at most 255 links per template"))
    for i, link in enumerate(links):
        if not link.startswith("https://") or len(link) <= len("https://"):
            problems.append((i, f"a declared link is an https address, got {link[:60]!r}"))
        elif _LINK.fullmatch(link) is None or link.rstrip(_TRAILING) != link:
            problems.append((i, f"a declared link has no spaces, quotes or trailing punctuation: {link[:60]!r}"))
        if "{" in link:
            problems.append((i, "a declared link is a fixed address, without {{ }} fields"))
        if link in seen:
            problems.append((i, "this link is declared twice"))
        seen.add(link)
    return problems
