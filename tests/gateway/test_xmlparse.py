"""The callback XML parser: the dict shape events are built from, and what it refuses."""

from __future__ import annotations

import pytest

from wechat.xmlparse import XMLError, parse_xml


def test_leaves_nesting_and_repeats() -> None:
    body = (
        "<xml>\n  <Content><![CDATA[你好]]> &amp; <![CDATA[再见]]></Content><Empty/>"
        "<Items><List><Id>1</Id></List><List><Id>2</Id><Status>ok</Status></List></Items>"
        "<Tag>a</Tag><Tag>b</Tag><Tag>c</Tag></xml>"
    ).encode()
    assert parse_xml(body) == {
        "Content": "你好 & 再见",
        "Empty": "",
        "Items": {"List": [{"Id": "1"}, {"Id": "2", "Status": "ok"}]},
        "Tag": ["a", "b", "c"],
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'<!DOCTYPE xml [<!ENTITY e "x">]><xml><A>&e;</A></xml>', "DTDs and entities are not allowed"),
        (b"<xml><A>&undeclared;</A></xml>", "malformed XML"),
        (b"<xml><A>1</A>", "malformed XML"),
        (b"<root><A>1</A></root>", "expected <xml>"),
        ("<xml><A>中文</A></xml>".encode("gb18030"), "not UTF-8"),
        (b"  \n", "empty body"),
    ],
    ids=["dtd", "entity", "truncated", "root", "encoding", "empty"],
)
def test_refusals_name_their_reason(body: bytes, reason: str) -> None:
    with pytest.raises(XMLError, match=reason):
        parse_xml(body)
