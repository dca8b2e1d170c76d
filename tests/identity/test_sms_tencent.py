"""The Tencent Cloud SMS adapter: signing checked against Tencent's published example, and a whole send
against an in-process fake of the API that verifies the signature the way the real one does."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from base.clock import FakeClock
from base.settings import Settings, SettingsError
from identity.sms import SmsError, build_sms_sender
from identity.sms.sandbox import SandboxSmsSender
from identity.sms.tencent import TencentSmsConfig, TencentSmsSender, tc3_signature

OPTIONS = {
    "secret_id": "AKIDtest",
    "secret_key": "test-secret-key",
    "sdk_app_id": "1400000000",
    "sign_name": "测试品牌",
    "template_id": "123456",
}


def test_signature_matches_tencents_published_example() -> None:
    payload = '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    signature = tc3_signature(
        secret_key="Gu5t9xGARNpq86cd98joQYCN3*******",
        service="cvm",
        host="cvm.tencentcloudapi.com",
        payload=payload,
        timestamp=1551113065,
    )
    assert signature == "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"


class FakeTencent:
    """Answers SendSms like Tencent: checks the signature, records the request, replies Ok or an error."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: dict[str, Any] | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        timestamp = int(request.headers["X-TC-Timestamp"])
        expected = tc3_signature(
            secret_key=OPTIONS["secret_key"],
            service="sms",
            host=request.headers["Host"],
            payload=body,
            timestamp=timestamp,
        )
        authorization = request.headers["Authorization"]
        if not authorization.endswith(f"Signature={expected}"):
            return web.json_response({"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "x"}}})
        self.requests.append({"headers": dict(request.headers), "body": json.loads(body)})
        answer = self.answer or {"Response": {"SendStatusSet": [{"Code": "Ok", "Message": "send success"}]}}
        return web.json_response(answer)


@pytest.fixture
async def fake_tencent() -> Any:
    fake = FakeTencent()
    app = web.Application()
    app.router.add_post("/", fake.handle)
    server = TestServer(app)
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


async def test_send_code_is_signed_and_accepted(fake_tencent: Any, clock: FakeClock) -> None:
    fake, url = fake_tencent
    sender = TencentSmsSender(TencentSmsConfig.from_options({**OPTIONS, "endpoint": url}), clock)
    try:
        await sender.send_code("+8613912345678", "042133", 5)
    finally:
        await sender.close()
    (request,) = fake.requests
    assert request["headers"]["X-TC-Action"] == "SendSms"
    assert request["headers"]["X-TC-Version"] == "2021-01-11"
    assert request["body"] == {
        "PhoneNumberSet": ["+8613912345678"],
        "SmsSdkAppId": "1400000000",
        "SignName": "测试品牌",
        "TemplateId": "123456",
        "TemplateParamSet": ["042133", "5"],
    }


async def test_refusals_become_sms_errors_without_the_number(fake_tencent: Any, clock: FakeClock) -> None:
    fake, url = fake_tencent
    fake.answer = {"Response": {"SendStatusSet": [{"Code": "LimitExceeded.PhoneNumberDailyLimit", "Message": "m"}]}}
    sender = TencentSmsSender(TencentSmsConfig.from_options({**OPTIONS, "endpoint": url}), clock)
    try:
        with pytest.raises(SmsError, match="PhoneNumberDailyLimit") as caught:
            await sender.send_code("+8613912345678", "111111", 5)
        assert "13912345678" not in str(caught.value) and "111111" not in str(caught.value)
        wrong_key = TencentSmsSender(
            TencentSmsConfig.from_options({**OPTIONS, "secret_key": "wrong", "endpoint": url}), clock
        )
        with pytest.raises(SmsError, match="SignatureFailure"):
            await wrong_key.send_code("+8613912345678", "111111", 5)
        await wrong_key.close()
    finally:
        await sender.close()


async def test_unreachable_provider_is_an_sms_error(clock: FakeClock) -> None:
    sender = TencentSmsSender(TencentSmsConfig.from_options({**OPTIONS, "endpoint": "http://127.0.0.1:1"}), clock)
    try:
        with pytest.raises(SmsError, match="unreachable"):
            await sender.send_code("+8613912345678", "111111", 5)
    finally:
        await sender.close()


def test_provider_is_chosen_from_settings(clock: FakeClock) -> None:
    log = logging.getLogger("tests.sms")
    assert isinstance(build_sms_sender(Settings(), clock, log), SandboxSmsSender)
    assert not build_sms_sender(Settings(), clock, log).available
    assert build_sms_sender(Settings(demo=True), clock, log).available
    tencent = build_sms_sender(Settings(sms_provider="tencent", sms_options=OPTIONS), clock, log)
    assert tencent.name == "tencent"
    with pytest.raises(SettingsError, match="SCRM_SMS_TEMPLATE_ID"):
        build_sms_sender(Settings(sms_provider="tencent", sms_options={**OPTIONS, "template_id": ""}), clock, log)
    with pytest.raises(SettingsError, match="SCRM_SMS_PROVIDER"):
        build_sms_sender(Settings(sms_provider="carrier-pigeon"), clock, log)


async def test_sandbox_outbox_shows_newest_first(clock: FakeClock) -> None:
    sandbox = SandboxSmsSender(clock, logging.getLogger("tests.sms"), reveal=True, capacity=2)
    for code in ("111111", "222222", "333333"):
        await sandbox.send_code("+8613912345678", code, 5)
    assert [m["code"] for m in sandbox.recent(10)] == ["333333", "222222"]
    assert sandbox.recent(10)[0]["to"] == "139****5678" and sandbox.recent(0) == []
