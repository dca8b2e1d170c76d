"""Rendering templates in the sandbox: personal fields, fallbacks, every kind's payload, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from content.fields import StepContext, build_render_context, empty_context, sample_context
from content.sandbox import RenderError
from content.templates import TEXT_MAX_BYTES, parse_body, render_body
from storage.models.core import Follower, Profile
from wechat.replies import ImageReply, NewsReply, TextReply

NOW = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)


def _follower(**changes: Any) -> Follower:
    values: dict[str, Any] = dict(
        appid="wx1234567890abcdef",
        openid="o1",
        channel_scene="store_shanghai",
        subscribed_at=NOW - timedelta(days=5, hours=1),
        created_at=NOW,
        updated_at=NOW,
    )
    values.update(changes)
    return Follower(**values)


def _profile(**changes: Any) -> Profile:
    values: dict[str, Any] = dict(
        phone_key="+8613800138000",
        phone_sealed="+8613800138000",
        phone_masked="138****8000",
        name="王小姐",
        order_count=2,
        total_spent_fen=128050,
        last_product="山茶花精华液",
        segment="loyal",
        lifecycle_stage="repeat_buyer",
        created_at=NOW,
        updated_at=NOW,
    )
    values.update(changes)
    return Profile(**values)


def test_a_text_shows_the_followers_own_fields() -> None:
    body = parse_body(
        {
            "kind": "text",
            "content": "{{ profile.name }}（{{ profile.masked_phone }}）关注 {{ follower.days_since_follow }} 天，"
            "来自 {{ follower.channel }}，消费 {{ profile.total_spent }} 元，券码 {{ step.coupon_code }}",
            "fallbacks": {
                "profile.name": "朋友",
                "profile.masked_phone": "-",
                "follower.channel": "公众号",
                "step.coupon_code": "无",
            },
        }
    )
    context = build_render_context(_follower(), _profile(), StepContext(coupon_code="C-1"), NOW)
    reply = render_body(body, context).reply
    assert reply == TextReply("王小姐（138****8000）关注 5 天，来自 store_shanghai，消费 1280.50 元，券码 C-1")


def test_missing_values_use_the_declared_fallbacks_never_empty() -> None:
    body = parse_body(
        {
            "kind": "text",
            "content": "{{ profile.name }}，您最近买了{{ profile.last_product }}，订单 {{ profile.order_count }} 个",
            "fallbacks": {"profile.name": "亲爱的", "profile.last_product": "我们的产品"},
        }
    )
    without_profile = build_render_context(_follower(channel_scene=None), None, None, NOW)
    assert render_body(body, without_profile).reply == TextReply("亲爱的，您最近买了我们的产品，订单 0 个")
    blank_name = build_render_context(_follower(), _profile(name="", last_product=None), None, NOW)
    assert render_body(body, blank_name).reply == TextReply("亲爱的，您最近买了我们的产品，订单 2 个")


def test_an_erased_profile_shows_nothing_of_the_person() -> None:
    body = parse_body({"kind": "text", "content": "{{ profile.name }}", "fallbacks": {"profile.name": "朋友"}})
    erased = _profile(erased_at=NOW)
    assert render_body(body, build_render_context(_follower(), erased, None, NOW)).reply == TextReply("朋友")


def test_news_image_template_message_and_mass_news_payloads() -> None:
    news = parse_body(
        {
            "kind": "news",
            "articles": [
                {
                    "title": "{{ profile.name }}的专属推荐",
                    "url": "{{ step.store_link }}",
                    "picurl": "https://img.example.cn/a.jpg",
                }
            ],
            "fallbacks": {"profile.name": "你", "step.store_link": "https://shop.example.cn/"},
        }
    )
    rendered = render_body(news, sample_context())
    assert isinstance(rendered.reply, NewsReply)
    assert rendered.customer_service("o1")["news"]["articles"][0]["title"] == "王小姐的专属推荐"
    assert rendered.reply.articles[0].url == "https://brand.tmall.com/"

    image = render_body(parse_body({"kind": "image", "media_id": "MEDIA1"}), empty_context())
    assert image.reply == ImageReply("MEDIA1")

    notice = parse_body(
        {
            "kind": "wechat_template",
            "purpose": "service",
            "template_id": "TPL",
            "url": "https://m.example.cn/points",
            "wechat_keys": ["first", "keyword1"],
            "data": {"first": "积分到账", "keyword1": {"value": "{{ profile.total_spent }}", "color": "#173177"}},
        }
    )
    payload = render_body(notice, sample_context()).template_message("o1")
    assert payload == {
        "touser": "o1",
        "template_id": "TPL",
        "url": "https://m.example.cn/points",
        "data": {"first": {"value": "积分到账"}, "keyword1": {"value": "1280.00", "color": "#173177"}},
    }

    mass = render_body(
        parse_body(
            {"kind": "mass_news", "articles": [{"title": "月刊", "thumb_media_id": "T1", "content": "<p>hi</p>"}]}
        ),
        empty_context(),
    )
    assert mass.payload is not None and mass.payload["articles"][0]["thumb_media_id"] == "T1"
    send = mass.mass_send("MEDIA9", tag_id=5, clientmsgid="m-1")
    assert send["filter"] == {"is_to_all": False, "tag_id": 5} and send["mpnews"] == {"media_id": "MEDIA9"}
    with pytest.raises(ValueError, match="not a WeChat template message"):
        mass.template_message("o1")


def test_a_marketing_template_message_is_never_produced() -> None:
    body = parse_body(
        {
            "kind": "wechat_template",
            "purpose": "marketing",
            "template_id": "T",
            "wechat_keys": ["a"],
            "data": {"a": "x"},
        }
    )
    with pytest.raises(ValueError, match="only service templates"):
        render_body(body, empty_context()).template_message("o1")


def test_the_sandbox_refuses_python_internals_at_render_time() -> None:
    body = parse_body({"kind": "text", "content": "{{ ''.__class__.__mro__ }}"})
    with pytest.raises(RenderError):
        render_body(body, empty_context())


def test_a_text_over_wechats_byte_limit_fails_loudly_at_send_time() -> None:
    body = parse_body(
        {"kind": "text", "content": "{{ profile.name }}" + "字" * 680, "fallbacks": {"profile.name": "朋友"}}
    )
    assert render_body(body, empty_context()).reply is not None  # 2046 bytes: fits
    long_name = {**sample_context(), "profile": {**sample_context()["profile"], "name": "很长的名字"}}
    with pytest.raises(RenderError, match=f"at most {TEXT_MAX_BYTES}"):
        render_body(body, long_name)
