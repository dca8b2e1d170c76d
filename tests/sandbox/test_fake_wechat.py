"""The fake WeChat API's own rules: tokens, force-refresh limits, token checks, mounting into an app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from base.clock import FakeClock
from sandbox.fake_wechat import FakeWeChat
from tests.sandbox.conftest import AiohttpClient

APPID = "wx1234567890abcdef"


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeWeChat]:
    async with FakeWeChat({APPID: "s3cret"}, clock=clock) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(url, json=body) as response:
        answer: dict[str, Any] = await response.json()
        return answer


async def _stable(http: aiohttp.ClientSession, fake: FakeWeChat, force: bool = False) -> dict[str, Any]:
    body = {"grant_type": "client_credential", "appid": APPID, "secret": "s3cret", "force_refresh": force}
    return await _post(http, fake.base_url + "/cgi-bin/stable_token", body)


async def _custom(http: aiohttp.ClientSession, fake: FakeWeChat, token: str) -> dict[str, Any]:
    body = {"touser": "o-1", "msgtype": "text", "text": {"content": "hi"}}
    return await _post(http, f"{fake.base_url}/cgi-bin/message/custom/send?access_token={token}", body)


async def test_stable_token_is_the_same_until_near_expiry(
    fake: FakeWeChat, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    first = await _stable(http, fake)
    assert first["expires_in"] == 7200
    clock.advance(seconds=3600)
    again = await _stable(http, fake)
    assert again["access_token"] == first["access_token"] and again["expires_in"] == 3600
    clock.advance(seconds=3400)  # 200 s left: a new token
    renewed = await _stable(http, fake)
    assert renewed["access_token"] != first["access_token"]
    assert (await _custom(http, fake, first["access_token"]))["errcode"] == 0  # the old one still works
    clock.advance(seconds=200)
    assert (await _custom(http, fake, first["access_token"]))["errcode"] == 42001


async def test_force_refresh_is_limited(fake: FakeWeChat, http: aiohttp.ClientSession, clock: FakeClock) -> None:
    old = (await _stable(http, fake))["access_token"]
    forced = await _stable(http, fake, force=True)
    assert forced["access_token"] != old
    assert (await _custom(http, fake, old))["errcode"] == 40001  # a forced refresh kills the previous token
    assert (await _stable(http, fake, force=True))["errcode"] == 45011  # 30 s apart
    for _ in range(19):
        clock.advance(seconds=31)
        assert "access_token" in await _stable(http, fake, force=True)
    clock.advance(seconds=31)
    assert (await _stable(http, fake, force=True))["errcode"] == 45009  # 20 a day


async def test_classic_token_invalidates_the_previous_after_five_minutes(
    fake: FakeWeChat, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    url = f"{fake.base_url}/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret=s3cret"
    async with http.get(url) as response:
        old = (await response.json())["access_token"]
    async with http.get(url) as response:
        new = (await response.json())["access_token"]
    clock.advance(seconds=299)
    assert (await _custom(http, fake, old))["errcode"] == 0
    clock.advance(seconds=2)
    assert (await _custom(http, fake, old))["errcode"] == 42001
    assert (await _custom(http, fake, new))["errcode"] == 0


async def test_wrong_credentials_and_tokens(fake: FakeWeChat, http: aiohttp.ClientSession) -> None:
    body = {"grant_type": "client_credential", "appid": APPID, "secret": "guess"}
    assert (await _post(http, fake.base_url + "/cgi-bin/stable_token", body))["errcode"] == 40001
    body = {"grant_type": "client_credential", "appid": "wxother0000000000", "secret": "s3cret"}
    assert (await _post(http, fake.base_url + "/cgi-bin/stable_token", body))["errcode"] == 40013
    assert (await _custom(http, fake, "forged"))["errcode"] == 40001
    assert (await _custom(http, fake, ""))["errcode"] == 41001
    async with http.get(fake.base_url + "/cgi-bin/message/custom/send") as response:
        assert (await response.json())["errcode"] == 43002  # POST required


async def test_malformed_bodies_are_payload_errors(fake: FakeWeChat, http: aiohttp.ClientSession) -> None:
    token = fake.issue_token(APPID)
    url = f"{fake.base_url}/cgi-bin/message/custom/send?access_token={token}"
    async with http.post(url, data=b"{not json") as response:
        assert (await response.json())["errcode"] == 47001
    assert (await _post(http, url, {"touser": "o-1", "msgtype": "text"}))["errcode"] == 47001
    mass = f"{fake.base_url}/cgi-bin/message/mass/send?access_token={token}"
    one = {"touser": ["o-1"], "msgtype": "text", "text": {"content": "x"}, "clientmsgid": "c"}
    assert (await _post(http, mass, one))["errcode"] == 40130  # a list mass send needs 2+ openids


async def test_fail_rejects_apis_it_does_not_serve(fake: FakeWeChat) -> None:
    with pytest.raises(ValueError, match="does not serve"):
        fake.fail("message/teleport", errcode=-1)
    with pytest.raises(ValueError, match="times"):
        fake.fail("message/custom/send", errcode=-1, times=0)


async def test_failure_until_cleared(fake: FakeWeChat, http: aiohttp.ClientSession) -> None:
    token = fake.issue_token(APPID)
    fake.fail("/cgi-bin/message/custom/send", errcode=-1, times=None)
    for _ in range(3):
        assert (await _custom(http, fake, token))["errcode"] == -1
    fake.clear_failures()
    assert (await _custom(http, fake, token))["errcode"] == 0
    assert [call.errcode for call in fake.sent_to("o-1", include_failed=True)] == [-1, -1, -1, 0]
    assert len(fake.sent_to("o-1")) == 1


async def test_mounted_into_an_app(aiohttp_client: AiohttpClient, clock: FakeClock) -> None:
    fake = FakeWeChat(clock=clock)
    app = web.Application()
    fake.mount(app, "/fake-wechat", public_origin="http://127.0.0.1:8080")
    assert fake.base_url == "http://127.0.0.1:8080/fake-wechat"
    client = await aiohttp_client(app)
    body = {"grant_type": "client_credential", "appid": APPID, "secret": "any"}
    response = await client.post("/fake-wechat/cgi-bin/stable_token", json=body)
    assert "access_token" in await response.json()


async def test_base_url_needs_a_server() -> None:
    with pytest.raises(RuntimeError, match="neither started nor mounted"):
        _ = FakeWeChat().base_url


async def test_the_fakes_of_one_demos_processes_act_as_one_wechat(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    """`scrm demo --workers 2` serves the fake API from each process: a token one of them issued must be
    good at the other (the product's processes share one token), and msgids must never repeat."""
    sibling_key = b"one demo's key"
    async with (
        FakeWeChat({APPID: "s3cret"}, clock=clock, sibling_key=sibling_key) as first,
        FakeWeChat({APPID: "s3cret"}, clock=clock, sibling_key=sibling_key) as second,
        FakeWeChat({APPID: "s3cret"}, clock=clock, sibling_key=b"another demo") as stranger,
    ):
        token = (await _stable(http, first))["access_token"]
        assert (await _custom(http, second, token))["errcode"] == 0
        assert (await _custom(http, stranger, token))["errcode"] == 40001
        clock.advance(seconds=7201)
        assert (await _custom(http, second, token))["errcode"] == 42001
        msgids = {fake.issue_msgid() for fake in (first, second) for _ in range(3)}
        assert len(msgids) == 6
