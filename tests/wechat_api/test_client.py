"""The client's API methods against the fake WeChat server: what is sent, what comes back, what is raised."""

from __future__ import annotations

import pytest

from base.clock import FakeClock
from base.settings import Settings
from sandbox.fake_wechat import FakeWeChat
from storage.db import Database
from tests.wechat_api.conftest import APPID
from wechat.api import Reaction, WeChatAPI, WeChatAPIError, WeChatNetworkError
from wechat.api.errors import REACTIONS, TOKEN_ERRCODES

TEXT = {"touser": "o-alice", "msgtype": "text", "text": {"content": "你好, Alice"}}


async def test_custom_message_reaches_the_follower(api: WeChatAPI, fake: FakeWeChat) -> None:
    answer = await api.send_custom_message(APPID, TEXT)
    assert answer["errcode"] == 0
    [sent] = fake.sent_to("o-alice")
    assert sent.api == "message/custom/send"
    assert sent.json == TEXT
    assert sent.appid == APPID


async def test_template_message_returns_its_msgid(api: WeChatAPI, fake: FakeWeChat) -> None:
    payload = {"touser": "o-bob", "template_id": "TPL_SHIPPED", "data": {"thing1": {"value": "口红"}}}
    answer = await api.send_template_message(APPID, payload)
    assert isinstance(answer["msgid"], int)
    assert fake.sent_to("o-bob")[0].json == payload


async def test_unknown_template_is_a_payload_error(api: WeChatAPI, fake: FakeWeChat) -> None:
    fake.template_ids = {"TPL_SHIPPED"}
    with pytest.raises(WeChatAPIError) as caught:
        await api.send_template_message(APPID, {"touser": "o-bob", "template_id": "TPL_TYPO", "data": {}})
    assert caught.value.errcode == 40037
    assert caught.value.reaction is Reaction.NEVER_RETRY_PAYLOAD
    assert fake.sent_to("o-bob") == []


async def test_subscription_notice_is_sent(api: WeChatAPI, fake: FakeWeChat) -> None:
    payload = {"touser": "o-carol", "template_id": "SUB_1", "data": {"thing1": {"value": "积分到账"}}}
    await api.send_subscribe_message(APPID, payload)
    assert fake.sent_to("o-carol")[0].api == "message/subscribe/bizsend"


async def test_mass_send_with_reused_clientmsgid_is_already_sent(api: WeChatAPI, fake: FakeWeChat) -> None:
    payload = {"touser": ["o-a", "o-b"], "msgtype": "text", "text": {"content": "新品上市"}, "clientmsgid": "m-1"}
    answer = await api.mass_send(APPID, payload)
    assert answer["msg_id"]
    with pytest.raises(WeChatAPIError) as caught:
        await api.mass_send(APPID, payload)
    assert caught.value.errcode == 45065
    assert caught.value.reaction is Reaction.ALREADY_SENT
    assert len(fake.sent_to("o-a")) == 1  # the repeat delivered nothing


async def test_mass_send_without_clientmsgid_is_refused_before_sending(api: WeChatAPI, fake: FakeWeChat) -> None:
    with pytest.raises(ValueError, match="clientmsgid"):
        await api.mass_send(APPID, {"touser": ["o-a", "o-b"], "msgtype": "text", "text": {"content": "x"}})
    assert fake.calls == []


async def test_mass_send_to_tag_reaches_tagged_followers(api: WeChatAPI, fake: FakeWeChat) -> None:
    fake.add_follower("o-vip", appid=APPID).tags.append(7)
    fake.add_follower("o-plain", appid=APPID)
    payload = {"filter": {"is_to_all": False, "tag_id": 7}, "msgtype": "text", "text": {"content": "VIP"}}
    await api.mass_send_to_tag(APPID, {**payload, "clientmsgid": "tag-7"})
    assert len(fake.sent_to("o-vip")) == 1
    assert fake.sent_to("o-plain") == []


async def test_user_info_single_and_batch(api: WeChatAPI, fake: FakeWeChat) -> None:
    fake.add_follower("o-1", appid=APPID, unionid="u-1", scene="store_42")
    fake.add_follower("o-2", appid=APPID, subscribed=False)
    info = await api.get_user_info(APPID, "o-1")
    assert info["subscribe"] == 1 and info["unionid"] == "u-1" and info["qr_scene_str"] == "store_42"
    batch = await api.batch_get_user_info(APPID, ["o-1", "o-2"])
    assert [entry["subscribe"] for entry in batch["user_info_list"]] == [1, 0]


async def test_user_info_of_a_stranger_says_drop(api: WeChatAPI) -> None:
    with pytest.raises(WeChatAPIError) as caught:
        await api.get_user_info(APPID, "o-nobody")
    assert caught.value.reaction is Reaction.DROP_MARK_FOLLOWER


async def test_batch_user_info_takes_at_most_100(api: WeChatAPI, fake: FakeWeChat) -> None:
    with pytest.raises(ValueError, match="1-100"):
        await api.batch_get_user_info(APPID, [f"o-{n}" for n in range(101)])
    assert fake.calls == []


async def test_qrcodes_temporary_and_permanent(api: WeChatAPI, fake: FakeWeChat) -> None:
    temporary = await api.create_qrcode(APPID, 123456, permanent=False, expire_seconds=3600)
    assert temporary["expire_seconds"] == 3600
    permanent = await api.create_qrcode(APPID, "kol_lily", permanent=True)
    assert "expire_seconds" not in permanent
    assert fake.qrcodes[permanent["ticket"]]["scene"] == "kol_lily"
    assert fake.calls_to("qrcode/create")[1].json == {
        "action_name": "QR_LIMIT_STR_SCENE",
        "action_info": {"scene": {"scene_str": "kol_lily"}},
    }


@pytest.mark.parametrize(
    ("scene", "permanent", "message"),
    [(100_001, True, "1-100000"), (0, False, "scene id"), ("", True, "1-64"), ("x" * 65, False, "1-64")],
)
async def test_qrcode_scene_out_of_range_is_refused(
    api: WeChatAPI, fake: FakeWeChat, scene: int | str, permanent: bool, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await api.create_qrcode(APPID, scene, permanent=permanent)
    assert fake.calls == []


async def test_menu_round_trip(api: WeChatAPI, fake: FakeWeChat) -> None:
    with pytest.raises(WeChatAPIError) as caught:
        await api.get_menu(APPID)
    assert caught.value.errcode == 46003
    menu = {
        "button": [
            {"type": "click", "name": "绑定手机", "key": "BIND"},
            {"type": "view", "name": "商城", "url": "https://shop.example"},
        ]
    }
    await api.create_menu(APPID, menu)
    assert (await api.get_menu(APPID))["menu"] == menu
    assert fake.menu_clicks(APPID) == [{"name": "绑定手机", "key": "BIND"}]


async def test_menu_with_too_many_buttons_is_refused(api: WeChatAPI) -> None:
    with pytest.raises(ValueError, match="1-3"):
        await api.create_menu(APPID, {"button": [{"type": "click", "name": str(n), "key": str(n)} for n in range(4)]})


@pytest.mark.parametrize("errcode", sorted(code for code in REACTIONS if code not in TOKEN_ERRCODES))
async def test_every_error_code_is_classified(api: WeChatAPI, fake: FakeWeChat, errcode: int) -> None:
    fake.fail("message/custom/send", errcode=errcode)
    with pytest.raises(WeChatAPIError) as caught:
        await api.send_custom_message(APPID, TEXT)
    assert caught.value.errcode == errcode
    assert caught.value.reaction is REACTIONS[errcode]
    # The failure was answered once; the next send goes through.
    await api.send_custom_message(APPID, TEXT)


async def test_unlisted_error_code_is_unknown(api: WeChatAPI, fake: FakeWeChat) -> None:
    fake.fail("message/custom/send", errcode=99999)
    with pytest.raises(WeChatAPIError) as caught:
        await api.send_custom_message(APPID, TEXT)
    assert caught.value.reaction is Reaction.UNKNOWN
    assert not caught.value.retryable


async def test_failure_injected_for_one_openid_spares_the_others(api: WeChatAPI, fake: FakeWeChat) -> None:
    fake.fail("message/custom/send", errcode=43004, openid="o-gone")
    await api.send_custom_message(APPID, TEXT)
    with pytest.raises(WeChatAPIError) as caught:
        await api.send_custom_message(APPID, {**TEXT, "touser": "o-gone"})
    assert caught.value.reaction is Reaction.DROP_MARK_FOLLOWER


async def test_window_rules_when_enforced(api: WeChatAPI, fake: FakeWeChat, clock: FakeClock) -> None:
    fake.enforce_windows = True
    with pytest.raises(WeChatAPIError) as outside:
        await api.send_custom_message(APPID, TEXT)
    assert outside.value.reaction is Reaction.HOLD_WINDOW
    fake.record_interaction("o-alice", "event")  # a menu click: 3 messages within a minute
    for _ in range(3):
        await api.send_custom_message(APPID, TEXT)
    with pytest.raises(WeChatAPIError) as over:
        await api.send_custom_message(APPID, TEXT)
    assert over.value.reaction is Reaction.COUNT_EXCEEDED
    fake.record_interaction("o-alice", "message")  # a message: 5 within 48 hours
    clock.advance(hours=47)
    for _ in range(5):
        await api.send_custom_message(APPID, TEXT)
    with pytest.raises(WeChatAPIError) as again:
        await api.send_custom_message(APPID, TEXT)
    assert again.value.errcode == 45047
    clock.advance(hours=2)
    with pytest.raises(WeChatAPIError) as closed:
        await api.send_custom_message(APPID, TEXT)
    assert closed.value.errcode == 45015


async def test_unsubscribed_follower_cannot_receive(api: WeChatAPI, fake: FakeWeChat) -> None:
    fake.add_follower("o-alice", subscribed=False)
    with pytest.raises(WeChatAPIError) as caught:
        await api.send_custom_message(APPID, TEXT)
    assert caught.value.errcode == 43004


async def test_unreachable_wechat_is_a_retryable_network_error(
    settings: Settings, db: Database, clock: FakeClock
) -> None:
    unreachable = settings.with_overrides(wechat_api_base="http://127.0.0.1:1", wechat_appid=APPID)
    async with WeChatAPI(unreachable, db, clock) as client:
        with pytest.raises(WeChatNetworkError) as caught:
            await client.send_custom_message(APPID, TEXT)
    assert caught.value.retryable


async def test_slow_wechat_times_out_as_a_network_error(
    api_settings: Settings, db: Database, clock: FakeClock, fake: FakeWeChat
) -> None:
    async with WeChatAPI(api_settings, db, clock, timeout=0.1) as client:
        await client.tokens.get_token(APPID)
        fake.set_latency(0.3, api="message/custom/send")
        with pytest.raises(WeChatNetworkError, match="timed out"):
            await client.send_custom_message(APPID, TEXT)


async def test_non_json_answer_is_a_network_error(api_settings: Settings, db: Database, clock: FakeClock) -> None:
    async with WeChatAPI(api_settings, db, clock) as client:
        with pytest.raises(WeChatNetworkError, match="HTTP 404"):
            await client.call(APPID, "GET", "/cgi-bin/no/such/api")


async def test_payload_without_recipient_is_refused_before_sending(api: WeChatAPI, fake: FakeWeChat) -> None:
    with pytest.raises(ValueError, match="touser"):
        await api.send_custom_message(APPID, {"msgtype": "text", "text": {"content": "hi"}})
    assert fake.calls == []


async def test_mass_send_of_uploaded_news(api: WeChatAPI, fake: FakeWeChat) -> None:
    uploaded = await api.upload_news(APPID, [{"title": "春季新品", "content": "<p>新品</p>", "thumb_media_id": "t"}])
    media_id = uploaded["media_id"]
    payload = {"touser": ["o-a", "o-b"], "msgtype": "mpnews", "mpnews": {"media_id": media_id}, "clientmsgid": "n-1"}
    await api.mass_send(APPID, {**payload, "send_ignore_reprint": 0})
    assert fake.news[media_id][0]["title"] == "春季新品"
    assert len(fake.sent_to("o-b")) == 1


async def test_news_without_content_is_a_payload_error(api: WeChatAPI) -> None:
    with pytest.raises(WeChatAPIError) as caught:
        await api.upload_news(APPID, [{"title": "only a title"}])
    assert caught.value.reaction is Reaction.NEVER_RETRY_PAYLOAD
