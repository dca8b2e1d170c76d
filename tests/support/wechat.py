"""Build signed WeChat callbacks for tests: plaintext, compatible and safe (AES) modes.

    callback = safe_callback(account, text_xml("o-user", "hello", msg_id="1"), timestamp=ts)
    response = await client.post("/wechat", params=callback.params, data=callback.body)
    reply = read_reply(account, await response.text())   # decrypted when it came back encrypted

Every function takes the account's secrets explicitly (a `TestAccount`), so the same helpers serve the
default account from Settings and accounts stored in the database.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from defusedxml.ElementTree import fromstring
from wechatpy.crypto import WeChatCrypto

from base.settings import Settings


@dataclass(frozen=True)
class TestAccount:
    """The secrets WeChat and the gateway share for one official account."""

    __test__ = False  # not a pytest test class despite the name

    appid: str
    token: str
    aes_key: str = ""
    original_id: str = "gh_0123456789ab"

    @classmethod
    def from_settings(cls, settings: Settings) -> TestAccount:
        return cls(appid=settings.wechat_appid, token=settings.wechat_token, aes_key=settings.wechat_aes_key)


@dataclass(frozen=True)
class SignedCallback:
    """Query parameters and body of one callback, ready for `client.post(path, params=..., data=...)`."""

    params: dict[str, str]
    body: bytes


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode(), usedforsecurity=False).hexdigest()


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def callback_xml(fields: dict[str, Any]) -> str:
    """An `<xml>` document; str values become CDATA, ints stay bare, dicts nest."""
    parts = []
    for name, value in fields.items():
        if isinstance(value, dict):
            parts.append(f"<{name}>{callback_xml(value)[5:-6]}</{name}>")
        elif isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            parts.append(f"<{name}>{_cdata(str(value))}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def text_xml(
    openid: str, content: str, *, msg_id: str = "1", create_time: int = 1767578400, to_user: str = "gh_0123456789ab"
) -> str:
    """A text message from `openid`."""
    return callback_xml(
        {
            "ToUserName": to_user,
            "FromUserName": openid,
            "CreateTime": create_time,
            "MsgType": "text",
            "Content": content,
            "MsgId": msg_id,
        }
    )


def event_xml(
    openid: str,
    event: str,
    *,
    event_key: str | None = None,
    create_time: int = 1767578400,
    to_user: str = "gh_0123456789ab",
    **extra: Any,
) -> str:
    """An event (`subscribe`, `SCAN`, `CLICK`...) from `openid`; extra fields are added as given."""
    fields: dict[str, Any] = {
        "ToUserName": to_user,
        "FromUserName": openid,
        "CreateTime": create_time,
        "MsgType": "event",
        "Event": event,
    }
    if event_key is not None:
        fields["EventKey"] = event_key
    fields.update(extra)
    return callback_xml(fields)


def url_params(account: TestAccount, timestamp: int, nonce: str | None = None) -> dict[str, str]:
    """signature/timestamp/nonce as WeChat puts them on every callback URL."""
    nonce = nonce or secrets.token_hex(5)
    stamp = str(timestamp)
    return {"signature": sha1_signature(account.token, stamp, nonce), "timestamp": stamp, "nonce": nonce}


def handshake_params(account: TestAccount, timestamp: int, echostr: str = "echo-1234") -> dict[str, str]:
    """The GET handshake WeChat sends when the callback URL is saved in its console."""
    return {**url_params(account, timestamp), "echostr": echostr}


def plaintext_callback(account: TestAccount, xml: str, *, timestamp: int, nonce: str | None = None) -> SignedCallback:
    """Plaintext mode: the XML as is, signed on the URL."""
    return SignedCallback(url_params(account, timestamp, nonce), xml.encode("utf-8"))


def encrypt(account: TestAccount, xml: str) -> str:
    """The base64 <Encrypt> value WeChat would send for `xml`."""
    crypto = WeChatCrypto(account.token, account.aes_key, account.appid)
    envelope = crypto.encrypt_message(xml, "n", "0")
    return str(fromstring(envelope).findtext("Encrypt"))


def _aes_params(account: TestAccount, encrypted: str, timestamp: int, nonce: str | None) -> dict[str, str]:
    params = url_params(account, timestamp, nonce)
    params["encrypt_type"] = "aes"
    params["msg_signature"] = sha1_signature(account.token, params["timestamp"], params["nonce"], encrypted)
    return params


def safe_callback(account: TestAccount, xml: str, *, timestamp: int, nonce: str | None = None) -> SignedCallback:
    """Safe mode: only <ToUserName> and <Encrypt> in the body, msg_signature on the URL."""
    encrypted = encrypt(account, xml)
    to_user = fromstring(xml).findtext("ToUserName") or account.original_id
    body = callback_xml({"ToUserName": to_user, "Encrypt": encrypted})
    return SignedCallback(_aes_params(account, encrypted, timestamp, nonce), body.encode("utf-8"))


def compatible_callback(account: TestAccount, xml: str, *, timestamp: int, nonce: str | None = None) -> SignedCallback:
    """Compatible mode: the plaintext fields and <Encrypt> side by side, both signatures on the URL."""
    encrypted = encrypt(account, xml)
    body = xml[: -len("</xml>")] + f"<Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
    return SignedCallback(_aes_params(account, encrypted, timestamp, nonce), body.encode("utf-8"))


def read_reply(account: TestAccount, body: str) -> dict[str, str]:
    """The reply's fields, decrypting (and checking the MsgSignature of) a safe-mode reply."""
    root = fromstring(body)
    encrypted = root.findtext("Encrypt")
    if encrypted is not None:
        stamp, nonce = root.findtext("TimeStamp") or "", root.findtext("Nonce") or ""
        expected = sha1_signature(account.token, stamp, nonce, encrypted)
        if root.findtext("MsgSignature") != expected:
            raise AssertionError("the encrypted reply's MsgSignature does not verify")
        crypto = WeChatCrypto(account.token, account.aes_key, account.appid)
        root = fromstring(crypto.decrypt_message({"Encrypt": encrypted}, expected, stamp, nonce))
    return {child.tag: child.text or "" for child in root}
