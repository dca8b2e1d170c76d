"""The three callback modes, the handshake, and the official WXBizMsgCrypt vector, over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from base.clock import FakeClock
from handlers.context import Services
from handlers.replybook import DEFAULT_HELP
from storage.models.core import Account
from tests.support.wechat import (
    TestAccount,
    compatible_callback,
    handshake_params,
    plaintext_callback,
    read_reply,
    safe_callback,
    text_xml,
)

# Tencent's public WXBizMsgCrypt sample vector, copied into the repository (see its README for provenance).
OFFICIAL_VECTOR = Path(__file__).resolve().parents[1] / "fixtures" / "wechat" / "official_sample_vector.json"


async def test_handshake_echoes_echostr(client: TestClient[Any, Any], account: TestAccount, now_ts: int) -> None:
    response = await client.get("/wechat", params=handshake_params(account, now_ts, echostr="5837397520665436492"))
    assert response.status == 200
    assert await response.text() == "5837397520665436492"


async def test_handshake_with_wrong_token_is_refused(client: TestClient[Any, Any], now_ts: int) -> None:
    impostor = TestAccount(appid="wx1234567890abcdef", token="wrongtoken")
    response = await client.get("/wechat", params=handshake_params(impostor, now_ts))
    assert response.status == 403


async def test_plaintext_text_gets_help_reply(client: TestClient[Any, Any], account: TestAccount, now_ts: int) -> None:
    callback = plaintext_callback(account, text_xml("o-alice", "随便说点什么", msg_id="101"), timestamp=now_ts)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 200
    reply = read_reply(account, await response.text())
    assert reply["MsgType"] == "text"
    assert reply["Content"] == DEFAULT_HELP
    assert reply["ToUserName"] == "o-alice"
    assert reply["FromUserName"] == "gh_0123456789ab"


async def test_safe_mode_reply_is_encrypted(client: TestClient[Any, Any], account: TestAccount, now_ts: int) -> None:
    callback = safe_callback(account, text_xml("o-bob", "帮助", msg_id="102"), timestamp=now_ts)
    assert b"<Content>" not in callback.body
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 200
    body = await response.text()
    assert "<Encrypt>" in body and "<MsgSignature>" in body and "帮助" not in body
    reply = read_reply(account, body)
    assert reply["Content"] == DEFAULT_HELP
    assert reply["ToUserName"] == "o-bob"


async def test_compatible_mode_is_answered_encrypted(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int
) -> None:
    callback = compatible_callback(account, text_xml("o-carol", "help", msg_id="103"), timestamp=now_ts)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 200
    body = await response.text()
    assert "<Encrypt>" in body
    assert read_reply(account, body)["Content"] == DEFAULT_HELP


async def test_official_sample_vector_decrypts_and_is_answered(services: Services, make_client: Any) -> None:
    vector = json.loads(OFFICIAL_VECTOR.read_text(encoding="utf-8"))
    official = TestAccount(appid=vector["appid"], token=vector["token"], aes_key=vector["encoding_aes_key"])
    services.settings = services.settings.with_overrides(
        wechat_appid=official.appid, wechat_token=official.token, wechat_aes_key=official.aes_key
    )
    assert isinstance(services.clock, FakeClock)
    services.clock.set(datetime.fromtimestamp(int(vector["timestamp"]), UTC))
    client = await make_client()
    params = {
        "timestamp": vector["timestamp"],
        "nonce": vector["nonce"],
        "encrypt_type": "aes",
        "msg_signature": vector["msg_signature"],
    }
    response = await client.post("/wechat", params=params, data=vector["from_xml"].encode())
    assert response.status == 200
    reply = read_reply(official, await response.text())
    # "abcdteT" is no keyword: the help text goes back to the sender named inside the ciphertext.
    assert reply["ToUserName"] == vector["expected_plaintext_fields"]["FromUserName"]
    assert reply["FromUserName"] == vector["expected_plaintext_fields"]["ToUserName"]
    assert reply["Content"] == DEFAULT_HELP


async def test_safe_mode_without_aes_key_is_refused(
    services: Services, make_client: Any, account: TestAccount, now_ts: int
) -> None:
    services.settings = services.settings.with_overrides(wechat_aes_key="")
    client = await make_client()
    callback = safe_callback(account, text_xml("o-dan", "帮助", msg_id="104"), timestamp=now_ts)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 400
    assert "EncodingAESKey" in await response.text()


async def test_compatible_mode_without_aes_key_is_served_in_plaintext(
    services: Services, make_client: Any, account: TestAccount, now_ts: int
) -> None:
    services.settings = services.settings.with_overrides(wechat_aes_key="")
    client = await make_client()
    callback = compatible_callback(account, text_xml("o-erin", "帮助", msg_id="105"), timestamp=now_ts)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 200
    body = await response.text()
    assert "<Encrypt>" not in body
    assert read_reply(account, body)["Content"] == DEFAULT_HELP


async def test_accounts_from_the_database_are_served_on_their_own_path(
    client: TestClient[Any, Any], services: Services, now_ts: int
) -> None:
    other = TestAccount(appid="wxabcdefabcdef0001", token="othertoken", aes_key="B" * 43)
    async with services.db.session() as session:
        session.add(
            Account(appid=other.appid, token=other.token, aes_key=other.aes_key, created_at=services.clock.now())
        )
        await session.commit()
    callback = safe_callback(other, text_xml("o-frank", "帮助", msg_id="106"), timestamp=now_ts)
    response = await client.post(f"/wechat/{other.appid}", params=callback.params, data=callback.body)
    assert response.status == 200
    assert read_reply(other, await response.text())["Content"] == DEFAULT_HELP
    # The default account's secrets do not open the other account's URL.
    default = TestAccount.from_settings(services.settings)
    wrong = safe_callback(default, text_xml("o-frank", "帮助", msg_id="107"), timestamp=now_ts)
    assert (await client.post(f"/wechat/{other.appid}", params=wrong.params, data=wrong.body)).status == 403


async def test_unknown_account_is_404(client: TestClient[Any, Any], account: TestAccount, now_ts: int) -> None:
    callback = plaintext_callback(account, text_xml("o-gina", "hi", msg_id="108"), timestamp=now_ts)
    response = await client.post("/wechat/wx0000000000000000", params=callback.params, data=callback.body)
    assert response.status == 404
