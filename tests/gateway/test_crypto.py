"""Safe-mode AES against an independent implementation (wechatpy), both ways, and its refusals."""

from __future__ import annotations

import base64

import pytest
from defusedxml.ElementTree import fromstring
from wechatpy.crypto import WeChatCrypto

from wechat.crypto import AccountCrypto, DecryptError, sign

TOKEN, KEY, APPID = "cryptotoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx1234567890abcdef"
XML = "<xml><Content><![CDATA[你好，世界]]></Content></xml>"


def _envelope(xml: str) -> dict[str, str]:
    return {child.tag: child.text or "" for child in fromstring(xml)}


@pytest.mark.parametrize("size", [0, 1, 11, 12, 100, 5000])
def test_our_reply_is_read_by_wechatpy(size: int) -> None:
    xml = XML.replace("你好", "好" * size)
    envelope = _envelope(AccountCrypto(TOKEN, KEY, APPID).encrypt_reply(xml, "1700000000", "nonce1"))
    assert envelope["Nonce"] == "nonce1" and envelope["TimeStamp"] == "1700000000"
    plain = WeChatCrypto(TOKEN, KEY, APPID).decrypt_message(
        {"Encrypt": envelope["Encrypt"]}, envelope["MsgSignature"], "1700000000", "nonce1"
    )
    assert plain == xml


def test_a_nonce_that_cannot_sit_in_cdata_is_replaced() -> None:
    envelope = _envelope(AccountCrypto(TOKEN, KEY, APPID).encrypt_reply(XML, "1700000000", "a]]>b"))
    assert envelope["Nonce"].isalnum()
    plain = WeChatCrypto(TOKEN, KEY, APPID).decrypt_message(
        {"Encrypt": envelope["Encrypt"]}, envelope["MsgSignature"], "1700000000", envelope["Nonce"]
    )
    assert plain == XML


def test_wechatpy_ciphertext_is_read_by_us() -> None:
    envelope = _envelope(WeChatCrypto(TOKEN, KEY, APPID).encrypt_message(XML, "nonce2", "1700000000"))
    ours = AccountCrypto(TOKEN, KEY, APPID)
    assert ours.decrypt(envelope["Encrypt"], envelope["MsgSignature"], "1700000000", "nonce2") == XML
    with pytest.raises(DecryptError, match="msg_signature"):
        ours.decrypt(envelope["Encrypt"], "0" * 40, "1700000000", "nonce2")
    with pytest.raises(DecryptError, match="another AppID"):
        AccountCrypto(TOKEN, KEY, "wxffffffffffffffff").decrypt(
            envelope["Encrypt"], envelope["MsgSignature"], "1700000000", "nonce2"
        )


@pytest.mark.parametrize(
    "encrypted",
    [
        base64.b64encode(b"\0" * 32).decode(),  # decrypts to garbage padding
        base64.b64encode(b"\0" * 20).decode(),  # not a whole number of blocks
        "not base64!!",
        "",
    ],
    ids=["padding", "blocks", "base64", "empty"],
)
def test_corrupt_ciphertext_is_one_error(encrypted: str) -> None:
    crypto = AccountCrypto(TOKEN, KEY, APPID)
    with pytest.raises(DecryptError):
        crypto.decrypt(encrypted, sign(TOKEN, "1", "n", encrypted), "1", "n")


def test_a_key_that_is_not_32_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        AccountCrypto(TOKEN, "abcd", APPID)
