from __future__ import annotations

import pytest

from wechat.events import (
    ClickEvent,
    MalformedCallback,
    SubscribeEvent,
    SubscribeMsgEvent,
    TemplateSendJobFinishEvent,
    TextMessage,
    UnknownEvent,
    UnknownMessage,
    build_event,
)
from wechat.replies import Article, NewsReply, TextReply, reply_from_doc

BASE = {"ToUserName": "gh_1", "FromUserName": "o_1", "CreateTime": "1700000000"}


def test_text_message_dedup_key_includes_sender() -> None:
    one = build_event({**BASE, "MsgType": "text", "Content": "hi", "MsgId": "42"})
    other = build_event({**BASE, "FromUserName": "o_2", "MsgType": "text", "Content": "hi", "MsgId": "42"})
    assert isinstance(one, TextMessage) and one.key == "text"
    assert one.dedup_key != other.dedup_key


def test_subscribe_with_qr_scene_and_plain_subscribe() -> None:
    event = build_event({**BASE, "MsgType": "event", "Event": "subscribe", "EventKey": "qrscene_store_12"})
    assert isinstance(event, SubscribeEvent) and event.scene == "store_12" and event.key == "event.subscribe"
    plain = build_event({**BASE, "MsgType": "event", "Event": "subscribe", "EventKey": ""})
    assert isinstance(plain, SubscribeEvent) and plain.scene is None


def test_event_dedup_key_uses_time_event_and_key() -> None:
    a = build_event({**BASE, "MsgType": "event", "Event": "CLICK", "EventKey": "A"})
    b = build_event({**BASE, "MsgType": "event", "Event": "CLICK", "EventKey": "B"})
    assert isinstance(a, ClickEvent) and a.key == "event.click"
    assert a.dedup_key != b.dedup_key


def test_template_finish_reads_msgid_spelling_and_is_not_an_interaction() -> None:
    event = build_event(
        {**BASE, "MsgType": "event", "Event": "TEMPLATESENDJOBFINISH", "MsgID": "99", "Status": "success"}
    )
    assert isinstance(event, TemplateSendJobFinishEvent) and event.msg_id == "99"
    assert not event.is_interaction


def test_subscribe_msg_items_are_listed() -> None:
    raw = {
        **BASE,
        "MsgType": "event",
        "Event": "subscribe_msg_popup_event",
        "SubscribeMsgPopupEvent": {"List": [{"TemplateId": "t1", "SubscribeStatusString": "accept"}]},
    }
    event = build_event(raw)
    assert isinstance(event, SubscribeMsgEvent) and event.items[0]["TemplateId"] == "t1"


def test_unknown_kinds_fall_back() -> None:
    assert isinstance(build_event({**BASE, "MsgType": "hologram"}), UnknownMessage)
    assert isinstance(build_event({**BASE, "MsgType": "event", "Event": "teleport"}), UnknownEvent)


@pytest.mark.parametrize("missing", ["ToUserName", "FromUserName", "MsgType", "CreateTime"])
def test_missing_required_fields_are_malformed(missing: str) -> None:
    raw = {**BASE, "MsgType": "text"}
    raw.pop(missing)
    with pytest.raises(MalformedCallback):
        build_event(raw)


def test_replies_round_trip_and_escape_cdata() -> None:
    reply = TextReply("a ]]> b")
    xml = reply.to_xml("o_1", "gh_1", 1)
    assert "]]]]><![CDATA[>" in xml
    assert reply_from_doc(reply.to_doc()) == reply
    news = NewsReply(articles=(Article("t", "d", "https://x", "https://p"),))
    assert reply_from_doc(news.to_doc()) == news
    assert news.api_payload("o_1")["news"]["articles"][0]["title"] == "t"
    with pytest.raises(ValueError):
        NewsReply(articles=())
