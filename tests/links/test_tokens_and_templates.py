"""Link tokens and declared links, without the database: signing, expiry, rewriting, validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from base.link_tokens import LIFETIME_DAYS, LinkClaim, TokenExpired, TokenInvalid, day_number, derive_key, mint, verify
from content.fields import empty_context
from content.links import rewrite_links
from content.templates import RenderedMessage, parse_body, render_body
from content.validation import validate_template_body
from wechat.replies import Article, NewsReply, TextReply

KEY = derive_key(b"k" * 32)
TODAY = day_number(datetime(2026, 12, 5, tzinfo=UTC))


def test_a_token_round_trips_and_is_short() -> None:
    claim = LinkClaim("p", 2**40 + 7, 123_456, 99, 3, TODAY)
    token = mint(KEY, claim)
    assert len(token) == 44 and "=" not in token
    assert verify(KEY, token, today=TODAY) == claim
    assert claim.delivery == "push"


def test_another_key_or_any_changed_byte_is_refused() -> None:
    token = mint(KEY, LinkClaim("m", 5, 0, 9, 0, TODAY))
    with pytest.raises(TokenInvalid):
        verify(derive_key(b"x" * 32), token, today=TODAY)
    for at in range(len(token)):
        changed = token[:at] + ("B" if token[at] == "A" else "A") + token[at + 1 :]
        with pytest.raises(TokenInvalid):
            verify(KEY, changed, today=TODAY)


def test_a_token_expires_after_its_lifetime() -> None:
    token = mint(KEY, LinkClaim("r", 1, 0, 1, 0, TODAY))
    assert verify(KEY, token, today=TODAY + LIFETIME_DAYS).link == 0
    with pytest.raises(TokenExpired):
        verify(KEY, token, today=TODAY + LIFETIME_DAYS + 1)


def test_rewriting_replaces_declared_links_in_text_news_and_template_messages() -> None:
    declared = ["https://a.example/x", "https://b.example/"]
    minted: list[int] = []

    def tracked(index: int) -> str:
        minted.append(index)
        return f"https://t.example/l/{index}"

    text = RenderedMessage(
        "text",
        "marketing",
        reply=TextReply("去 https://a.example/x。或 https://b.example/, https://c.example/ https://a.example/x"),
    )
    out, used = rewrite_links(text, declared, tracked)
    assert isinstance(out.reply, TextReply)
    assert (
        out.reply.content
        == "去 https://t.example/l/0。或 https://t.example/l/1, https://c.example/ https://t.example/l/0"
    )
    assert used == {0, 1} and sorted(minted) == [0, 1]  # one token per delivery and link
    news = RenderedMessage(
        "news", "marketing", reply=NewsReply((Article("t", "d", "https://b.example/", "https://p.example/i.jpg"),))
    )
    out, _ = rewrite_links(news, declared, tracked)
    assert isinstance(out.reply, NewsReply) and out.reply.articles[0].url == "https://t.example/l/1"
    assert out.reply.articles[0].picurl == "https://p.example/i.jpg"
    template = RenderedMessage(
        "wechat_template", "service", payload={"template_id": "T", "url": "https://a.example/x", "data": {}}
    )
    out, _ = rewrite_links(template, declared, tracked)
    assert out.payload is not None and out.payload["url"] == "https://t.example/l/0"


def test_a_prefix_of_a_declared_link_is_not_that_link() -> None:
    message = RenderedMessage("text", "marketing", reply=TextReply("https://a.example/x/more"))
    out, used = rewrite_links(message, ["https://a.example/x"], lambda i: "T")
    assert out == message and used == frozenset()


def test_declared_links_are_validated() -> None:
    doc = {
        "kind": "text",
        "content": "hi https://a.example/",
        "links": ["https://a.example/", "http://plain.example/", "https://a.example/", "https://{{ x }}.cn/"],
    }
    body, issues = validate_template_body(doc, "t.yaml")
    assert body is None
    messages = [(issue.field, issue.message) for issue in issues]
    assert any(field == "links[1]" and "https" in message for field, message in messages), messages
    assert any(field == "links[2]" and "twice" in message for field, message in messages), messages
    assert any(field == "links[3]" for field, _ in messages), messages
    good, issues = validate_template_body({"kind": "text", "content": "hi", "links": ["https://a.example/"]}, "t.yaml")
    assert good is not None and issues == []
    rendered = render_body(
        parse_body({"kind": "text", "content": "x", "links": ["https://a.example/"]}), empty_context()
    )
    assert isinstance(rendered.reply, TextReply)
