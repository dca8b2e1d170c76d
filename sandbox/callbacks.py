"""Callbacks as WeChat sends them: XML built, signed (and encrypted in safe mode); replies decoded back.

The simulator uses these to drive the real gateway over HTTP, so every check the gateway makes (URL
signature, msg_signature, AES, AppID) is exercised exactly as in production.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal
from xml.etree.ElementTree import Element  # noqa: S405 - only for the type; parsing goes through defusedxml

from defusedxml import ElementTree
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException

from base.settings import Settings

Mode = Literal["plaintext", "compatible", "safe"]
MODES: tuple[Mode, ...] = ("plaintext", "compatible", "safe")
OPENID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class SandboxAccount:
    """The official account the simulated followers talk to: the gateway's own settings."""

    appid: str
    token: str
    aes_key: str = ""
    # The account's original id (gh_...), the ToUserName of every callback.
    username: str = "gh_sandbox000001"

    @classmethod
    def from_settings(cls, settings: Settings, username: str = "gh_sandbox000001") -> SandboxAccount:
        """The default account of `settings`; it needs WECHAT_APPID and WECHAT_TOKEN to sign callbacks."""
        if not settings.wechat_appid or not settings.wechat_token:
            raise ValueError("the sandbox needs WECHAT_APPID and WECHAT_TOKEN to sign the callbacks it sends")
        return cls(settings.wechat_appid, settings.wechat_token, settings.wechat_aes_key, username)

    @property
    def modes(self) -> tuple[Mode, ...]:
        """The message modes this account can use (AES modes need the EncodingAESKey)."""
        return MODES if self.aes_key else ("plaintext",)

    @property
    def default_mode(self) -> Mode:
        return "safe" if self.aes_key else "plaintext"

    def crypto(self) -> WeChatCrypto:
        if not self.aes_key:
            raise ValueError("this account has no EncodingAESKey: only plaintext mode is possible")
        return WeChatCrypto(self.token, self.aes_key, self.appid)


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def callback_xml(account: SandboxAccount, openid: str, create_time: int, msg_type: str, **fields: str | int) -> str:
    """The plaintext XML of one callback; string fields are CDATA, numbers are bare (as WeChat writes)."""
    parts = [
        f"<ToUserName>{_cdata(account.username)}</ToUserName>",
        f"<FromUserName>{_cdata(openid)}</FromUserName>",
        f"<CreateTime>{create_time}</CreateTime>",
        f"<MsgType>{_cdata(msg_type)}</MsgType>",
    ]
    for name, value in fields.items():
        body = str(value) if isinstance(value, int) else _cdata(value)
        parts.append(f"<{name}>{body}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def url_signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode("utf-8")).hexdigest()  # noqa: S324


@dataclass(frozen=True)
class SignedCallback:
    """What to POST: the query string and the body."""

    params: dict[str, str]
    body: str
    timestamp: str
    nonce: str


def sign_callback(account: SandboxAccount, xml: str, mode: Mode, timestamp: str, nonce: str = "") -> SignedCallback:
    """Sign `xml` as WeChat does in `mode`; compatible and safe modes carry it encrypted in <Encrypt>."""
    nonce = nonce or str(secrets.randbelow(10**10))
    params = {
        "signature": url_signature(account.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": _text(_parse(xml), "FromUserName"),
    }
    if mode == "plaintext":
        return SignedCallback(params, xml, timestamp, nonce)
    envelope = _parse(account.crypto().encrypt_message(xml, nonce, timestamp))
    encrypted = _text(envelope, "Encrypt")
    params.update(encrypt_type="aes", msg_signature=_text(envelope, "MsgSignature"))
    if mode == "safe":
        body = f"<xml><ToUserName>{_cdata(account.username)}</ToUserName><Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
    else:  # compatible: the plaintext fields and their encrypted copy side by side
        body = xml.removesuffix("</xml>") + f"<Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
    return SignedCallback(params, body, timestamp, nonce)


class MalformedReply(ValueError):
    """The gateway answered something WeChat would not accept (the follower sees "service unavailable")."""


def decode_reply(account: SandboxAccount, body: str) -> dict[str, Any] | None:
    """The passive reply in `body` as a dict of its fields; None for `success` or an empty answer.

    An encrypted reply is checked (MsgSignature, AppID) and decrypted first. Raises MalformedReply.
    """
    text = body.strip()
    if text in ("", "success"):
        return None
    root = _parse_reply(text)
    if root.find("Encrypt") is not None:
        root = _parse_reply(_decrypt(account, root))
    reply = _element_dict(root)
    for required in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
        if not reply.get(required):
            raise MalformedReply(f"the reply lacks <{required}>")
    return reply


def _decrypt(account: SandboxAccount, envelope: Element) -> str:
    try:
        return str(
            account.crypto().decrypt_message(
                {"Encrypt": _text(envelope, "Encrypt")},
                _text(envelope, "MsgSignature"),
                _text(envelope, "TimeStamp"),
                _text(envelope, "Nonce"),
            )
        )
    except InvalidSignatureException:
        raise MalformedReply("the encrypted reply's MsgSignature does not match") from None
    except Exception as error:  # noqa: BLE001 - wechatpy raises bare Exception for a wrong AppID or bad padding
        raise MalformedReply(f"the encrypted reply cannot be decrypted: {error!r}") from None


def _parse_reply(text: str) -> Element:
    try:
        return _parse(text)
    except ValueError as error:
        raise MalformedReply(f"the reply is not XML: {error}") from None


def _parse(text: str) -> Element:
    try:
        root: Element = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise ValueError(str(error)) from None
    return root


def _text(root: Element, name: str) -> str:
    node = root.find(name)
    return (node.text or "") if node is not None else ""


def _element_dict(node: Element) -> dict[str, Any]:
    """Child elements as a dict; repeated children (news <item>) become lists."""
    result: dict[str, Any] = {}
    for child in node:
        value: Any = _element_dict(child) if len(child) else (child.text or "")
        if child.tag in result:
            existing = result[child.tag]
            result[child.tag] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            result[child.tag] = value
    return result
