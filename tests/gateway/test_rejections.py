"""Everything the gateway refuses: forged, replayed, oversized, hostile or broken callbacks. Never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import select

from storage.db import Database
from storage.models.core import Follower, InboundEvent
from tests.support.wechat import (
    TestAccount,
    callback_xml,
    event_xml,
    plaintext_callback,
    safe_callback,
    sha1_signature,
    text_xml,
    url_params,
)


async def _nothing_stored(db: Database) -> bool:
    async with db.session() as session:
        rows = (await session.exec(select(InboundEvent))).all()
        followers = (await session.exec(select(Follower))).all()
    return not rows and not followers


async def test_forged_signature_is_403(client: TestClient[Any, Any], now_ts: int, db: Database) -> None:
    forger = TestAccount(appid="wx1234567890abcdef", token="notthetoken")
    callback = plaintext_callback(forger, text_xml("o-x", "hi"), timestamp=now_ts)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 403
    assert await _nothing_stored(db)


async def test_missing_signature_is_403(client: TestClient[Any, Any], now_ts: int) -> None:
    response = await client.post("/wechat", params={"timestamp": str(now_ts)}, data=text_xml("o-x", "hi").encode())
    assert response.status == 403


async def test_forged_msg_signature_is_403(client: TestClient[Any, Any], account: TestAccount, now_ts: int) -> None:
    callback = safe_callback(account, text_xml("o-x", "hi"), timestamp=now_ts)
    params = {**callback.params, "msg_signature": "0" * 40}
    response = await client.post("/wechat", params=params, data=callback.body)
    assert response.status == 403


@pytest.mark.parametrize("skew", [-301, 301, 86400])
async def test_stale_or_future_timestamp_is_403(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int, skew: int
) -> None:
    callback = plaintext_callback(account, text_xml("o-x", "hi"), timestamp=now_ts + skew)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 403
    assert "replay" in await response.text()


async def test_timestamp_within_five_minutes_is_accepted(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int
) -> None:
    callback = plaintext_callback(account, text_xml("o-x", "hi"), timestamp=now_ts - 299)
    assert (await client.post("/wechat", params=callback.params, data=callback.body)).status == 200


async def test_replayed_safe_mode_callback_is_403(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int
) -> None:
    callback = safe_callback(account, text_xml("o-x", "hi"), timestamp=now_ts - 600)
    assert (await client.post("/wechat", params=callback.params, data=callback.body)).status == 403


async def test_body_over_64_kib_by_header_is_413(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int
) -> None:
    big = text_xml("o-x", "长" * 30000)
    callback = plaintext_callback(account, big, timestamp=now_ts)
    assert len(callback.body) > 64 * 1024
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 413


async def test_body_over_64_kib_without_length_is_413(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"<xml>" + b"a" * 8192

    response = await client.post("/wechat", params=url_params(account, now_ts), data=chunks())
    assert response.status == 413


async def test_xxe_is_refused_without_reading_the_file(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int
) -> None:
    body = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
        "<xml><ToUserName>gh</ToUserName><FromUserName>o-x</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>text</MsgType><Content>&secret;</Content><MsgId>9</MsgId></xml>"
    )
    response = await client.post("/wechat", params=url_params(account, now_ts), data=body.encode())
    assert response.status == 400
    assert "root:" not in await response.text()


async def test_billion_laughs_is_refused_without_expansion(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int
) -> None:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    body = f'<?xml version="1.0"?><!DOCTYPE xml [{entities}]><xml><Content>&lol9;</Content></xml>'
    response = await client.post("/wechat", params=url_params(account, now_ts), data=body.encode())
    assert response.status == 400
    assert "DTD" in await response.text()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<xml><ToUserName>unclosed",
        b"not xml at all",
        b"<html><body>hi</body></html>",
        "<xml><Content>中文</Content></xml>".encode("gb18030"),
    ],
    ids=["empty", "truncated", "text", "wrong-root", "gb18030"],
)
async def test_malformed_bodies_are_400(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int, body: bytes, db: Database
) -> None:
    response = await client.post("/wechat", params=url_params(account, now_ts), data=body)
    assert response.status == 400
    assert await _nothing_stored(db)


@pytest.mark.parametrize("missing", ["FromUserName", "MsgType", "CreateTime", "ToUserName"])
async def test_missing_required_fields_are_400(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int, missing: str
) -> None:
    fields: dict[str, Any] = {
        "ToUserName": "gh",
        "FromUserName": "o-x",
        "CreateTime": now_ts,
        "MsgType": "text",
        "Content": "hi",
        "MsgId": "5",
    }
    del fields[missing]
    callback = plaintext_callback(account, callback_xml(fields), timestamp=now_ts)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 400
    assert missing in await response.text()


async def test_payload_encrypted_with_another_key_is_400(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int
) -> None:
    # Signed with the right token (so it passes msg_signature) but encrypted with a different key.
    wrong_key = TestAccount(appid=account.appid, token=account.token, aes_key="Z" * 43)
    callback = safe_callback(wrong_key, text_xml("o-x", "hi"), timestamp=now_ts)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 400


async def test_payload_encrypted_for_another_appid_is_400(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int
) -> None:
    other_app = TestAccount(appid="wxffffffffffffffff", token=account.token, aes_key=account.aes_key)
    callback = safe_callback(other_app, text_xml("o-x", "hi"), timestamp=now_ts)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 400
    assert "AppID" in await response.text()


async def test_garbage_ciphertext_is_400(client: TestClient[Any, Any], account: TestAccount, now_ts: int) -> None:
    for garbage in ("not base64!!", "QUJD", "A" * 64):
        params = url_params(account, now_ts)
        params.update(
            encrypt_type="aes",
            msg_signature=sha1_signature(account.token, params["timestamp"], params["nonce"], garbage),
        )
        body = callback_xml({"ToUserName": "gh", "Encrypt": garbage}).encode()
        response = await client.post("/wechat", params=params, data=body)
        assert response.status == 400, garbage


@pytest.mark.parametrize(
    "xml",
    [
        event_xml("o-x", "some_future_event", event_key="k"),
        callback_xml({"ToUserName": "gh", "FromUserName": "o-x", "CreateTime": 1, "MsgType": "hologram", "MsgId": "7"}),
    ],
    ids=["event", "message"],
)
async def test_unknown_kinds_answer_success(
    client: TestClient[Any, Any], account: TestAccount, now_ts: int, xml: str
) -> None:
    callback = plaintext_callback(account, xml, timestamp=now_ts)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    assert response.status == 200
    assert await response.text() == "success"
