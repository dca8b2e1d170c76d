"""The follower simulator end to end: page actions become signed callbacks; replies and pushes form the chat."""

from __future__ import annotations

from typing import Any

import pytest

from base.clock import FakeClock
from base.settings import Settings
from storage.db import Database
from tests.sandbox.conftest import APPID, RecordingOutbox, Sandbox
from wechat.api import WeChatAPI


async def _new_follower(sandbox: Sandbox, openid: str = "o-alice", label: str = "Alice") -> dict[str, Any]:
    response = await sandbox.client.post("/sandbox/api/followers", json={"openid": openid, "label": label})
    assert response.status == 201
    follower: dict[str, Any] = await response.json()
    return follower


async def _act(sandbox: Sandbox, openid: str, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await sandbox.client.post(f"/sandbox/api/followers/{openid}/actions", json=body)
    document: dict[str, Any] = await response.json()
    return response.status, document


async def _chat(sandbox: Sandbox, openid: str = "o-alice") -> list[dict[str, Any]]:
    response = await sandbox.client.get(f"/sandbox/api/followers/{openid}/chat")
    assert response.status == 200
    entries: list[dict[str, Any]] = (await response.json())["entries"]
    return entries


async def test_follow_sends_a_signed_subscribe_and_shows_the_welcome(sandbox: Sandbox) -> None:
    await _new_follower(sandbox)
    status, result = await _act(sandbox, "o-alice", action="follow", mode="plaintext")
    assert status == 200
    [event] = sandbox.gateway.received
    assert (event["FromUserName"], event["Event"], event["ToUserName"]) == ("o-alice", "subscribe", "gh_sandbox000001")
    assert [(e["source"], e["text"]) for e in result["entries"]] == [
        ("you", "followed the account"),
        ("reply", "欢迎关注!"),
    ]
    assert sandbox.fake.followers["o-alice"].subscribed


@pytest.mark.parametrize("mode", ["safe", "compatible"])
async def test_text_in_aes_modes_is_encrypted_and_the_reply_decrypted(sandbox: Sandbox, mode: str) -> None:
    await _new_follower(sandbox)
    await _act(sandbox, "o-alice", action="follow", mode=mode)
    status, result = await _act(sandbox, "o-alice", action="text", content="你好 <script>", mode=mode)
    assert status == 200
    assert result["entries"][-1]["text"] == "echo: 你好 <script>"
    query, body = sandbox.gateway.queries[-1], sandbox.gateway.bodies[-1]
    assert query["encrypt_type"] == "aes" and query["msg_signature"]
    assert "<Encrypt>" in body
    assert ("<Content>" in body) is (mode == "compatible")  # safe mode carries nothing in clear
    assert sandbox.gateway.received[-1]["Content"] == "你好 <script>"


async def test_channel_scan_follows_then_scans(sandbox: Sandbox) -> None:
    await _new_follower(sandbox)
    await _act(sandbox, "o-alice", action="scan", scene="store_shanghai")
    await _act(sandbox, "o-alice", action="scan", scene="store_beijing")
    first, second = sandbox.gateway.received
    assert (first["Event"], first["EventKey"]) == ("subscribe", "qrscene_store_shanghai")
    assert first["Ticket"]
    assert (second["Event"], second["EventKey"]) == ("SCAN", "store_beijing")
    assert sandbox.fake.followers["o-alice"].scene == "store_shanghai"


async def test_menu_click_and_unfollow(sandbox: Sandbox) -> None:
    sandbox.fake.menus[APPID] = {"button": [{"type": "click", "name": "绑定手机", "key": "BIND_PHONE"}]}
    state = await (await sandbox.client.get("/sandbox/api/state")).json()
    assert state["menu"] == [{"name": "绑定手机", "type": "click", "key": "BIND_PHONE", "url": "", "group": ""}]
    await _new_follower(sandbox)
    await _act(sandbox, "o-alice", action="follow")
    await _act(sandbox, "o-alice", action="click", key="BIND_PHONE")
    await _act(sandbox, "o-alice", action="unfollow")
    events = [(m["Event"], m.get("EventKey")) for m in sandbox.gateway.received]
    assert events[1:] == [("CLICK", "BIND_PHONE"), ("unsubscribe", None)]
    assert not sandbox.fake.followers["o-alice"].subscribed
    status, result = await _act(sandbox, "o-alice", action="text", content="hello?")
    assert status == 409 and "follow" in result["error"]


async def test_a_menu_the_fake_received_shows_every_button_before_it_is_recorded_as_published(sandbox: Sandbox) -> None:
    # Between the fake API taking a menu and the console recording it as published, the sandbox shows
    # what the fake holds: the link buttons too, and the group each sub button sits in.
    sandbox.fake.menus[APPID] = {
        "button": [
            {"name": "会员", "sub_button": [{"type": "click", "name": "会员中心", "key": "MENU_MEMBER"}]},
            {"type": "view", "name": "官方商城", "url": "https://shop.example.com/"},
        ]
    }
    state = await (await sandbox.client.get("/sandbox/api/state")).json()
    assert state["menu"] == [
        {"name": "会员中心", "type": "click", "key": "MENU_MEMBER", "url": "", "group": "会员"},
        {"name": "官方商城", "type": "view", "key": "", "url": "https://shop.example.com/", "group": ""},
    ]


async def test_interactions_open_the_fake_windows(sandbox: Sandbox, clock: FakeClock) -> None:
    await _new_follower(sandbox)
    await _act(sandbox, "o-alice", action="follow")
    await _act(sandbox, "o-alice", action="text", content="quiet")
    state = sandbox.fake.windows.states["o-alice"]
    assert state.last_event_at == clock.now() and state.last_message_at == clock.now()


async def test_pushes_show_up_in_the_chat(sandbox: Sandbox, settings: Settings, db: Database, clock: FakeClock) -> None:
    await _new_follower(sandbox)
    await _act(sandbox, "o-alice", action="follow")
    clock.advance(seconds=30)
    async with WeChatAPI(
        settings.with_overrides(wechat_api_base=sandbox.fake.base_url, wechat_appid=APPID), db, clock
    ) as api:
        await api.send_custom_message(APPID, {"touser": "o-alice", "msgtype": "text", "text": {"content": "限时优惠"}})
        await api.send_template_message(
            APPID, {"touser": "o-alice", "template_id": "TPL_SHIP", "data": {"thing1": {"value": "已发货"}}}
        )
        await api.send_custom_message(APPID, {"touser": "o-bob", "msgtype": "text", "text": {"content": "not hers"}})
    entries = await _chat(sandbox)
    assert [(e["source"], e["kind"], e["text"]) for e in entries] == [
        ("you", "event", "followed the account"),
        ("reply", "text", "欢迎关注!"),
        ("push", "text", "限时优惠"),
        ("push", "template", "template message TPL_SHIP"),
    ]
    assert entries[3]["detail"] == ["thing1: 已发货"]


async def test_news_reply_is_shown_as_plain_data(sandbox: Sandbox) -> None:
    await _new_follower(sandbox)
    await _act(sandbox, "o-alice", action="follow")
    _, result = await _act(sandbox, "o-alice", action="text", content="news")
    news = result["entries"][-1]
    assert (news["kind"], news["text"]) == ("news", "<b>春季新品</b>")
    assert news["detail"] == ["new season", "https://shop.example/1"]


@pytest.mark.parametrize(("content", "problem"), [("boom", "HTTP 500"), ("garbage", "not XML")])
async def test_a_broken_answer_shows_what_the_follower_would_see(sandbox: Sandbox, content: str, problem: str) -> None:
    await _new_follower(sandbox)
    await _act(sandbox, "o-alice", action="follow")
    _, result = await _act(sandbox, "o-alice", action="text", content=content)
    note = result["entries"][-1]
    assert note["side"] == "system" and problem in note["text"]
    assert "该公众号暂时无法提供服务" in note["detail"][0]


async def test_success_answer_adds_no_reply(sandbox: Sandbox) -> None:
    await _new_follower(sandbox)
    await _act(sandbox, "o-alice", action="follow")
    _, result = await _act(sandbox, "o-alice", action="text", content="quiet")
    assert [e["source"] for e in result["entries"]] == ["you"]


async def test_unreachable_gateway_is_reported(sandbox: Sandbox) -> None:
    sandbox.simulator.gateway_url = "http://127.0.0.1:1/wechat"
    await _new_follower(sandbox)
    _, result = await _act(sandbox, "o-alice", action="follow")
    assert "could not reach the gateway" in result["entries"][-1]["text"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"action": "dance"}, 400, "unknown action"),
        ({"action": "text"}, 400, "content is required"),
        ({"action": "text", "content": "x" * 2001}, 400, "at most 2000"),
        ({"action": "scan", "scene": "   "}, 400, "non-blank"),
        ({"action": "follow", "mode": "rot13"}, 400, "mode"),
        ({"action": "unfollow"}, 409, "follow"),
    ],
)
async def test_bad_actions_are_refused_and_send_nothing(
    sandbox: Sandbox, body: dict[str, Any], status: int, message: str
) -> None:
    await _new_follower(sandbox)
    got_status, result = await _act(sandbox, "o-alice", **body)
    assert got_status == status and message in result["error"]
    assert sandbox.gateway.received == []


async def test_unknown_follower_and_bad_openid(sandbox: Sandbox) -> None:
    status, result = await _act(sandbox, "o-ghost", action="follow")
    assert status == 404 and "create it first" in result["error"]
    response = await sandbox.client.post("/sandbox/api/followers", json={"openid": "bad openid!"})
    assert response.status == 400
    response = await sandbox.client.post("/sandbox/api/followers", data=b"not json")
    assert response.status == 400


async def test_created_followers_get_wechat_like_openids(sandbox: Sandbox) -> None:
    response = await sandbox.client.post("/sandbox/api/followers", json={})
    follower = await response.json()
    assert follower["openid"].startswith("o") and len(follower["openid"]) == 28
    state = await (await sandbox.client.get("/sandbox/api/state")).json()
    assert state["followers"] == [follower]
    assert state["account"]["modes"] == ["plaintext", "compatible", "safe"] and state["default_mode"] == "safe"


async def test_sms_outbox_is_shown(sandbox: Sandbox, outbox: RecordingOutbox) -> None:
    outbox.messages.append({"to": "138****8000", "code": "123456", "text": "验证码 123456", "at_china": "10:00:00"})
    await _new_follower(sandbox)
    chat = await (await sandbox.client.get("/sandbox/api/followers/o-alice/chat")).json()
    assert chat["sms"] == [{"to": "138****8000", "text": "验证码 123456", "at": "10:00:00"}]


async def test_page_and_assets_are_served_locally(sandbox: Sandbox) -> None:
    response = await sandbox.client.get("/sandbox", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/sandbox/"
    page = await (await sandbox.client.get("/sandbox/")).text()
    assert APPID in page and 'src="static/simulator.js"' in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from the internet
    script = await sandbox.client.get("/sandbox/static/simulator.js")
    assert script.status == 200
    assert "innerHTML" not in (await script.text()).replace("never\n// innerHTML", "")
