"""Callback signatures, replay window and AES (safe mode) for one official account.

Signatures are SHA-1 over the sorted parts and always compared with `hmac.compare_digest`. The AES work
(AES-256-CBC, 32-byte PKCS#7, random prefix, length, AppID suffix) is wechatpy's `WeChatCrypto`; this
module adds the constant-time checks and turns every way a ciphertext can be wrong into one error.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import secrets
import struct
from datetime import datetime

from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

# WeChat signs its timestamp; one older or newer than this is treated as a replay.
REPLAY_WINDOW_SECONDS = 300


class DecryptError(ValueError):
    """The <Encrypt> payload could not be decrypted for this account (wrong key, AppID or padding)."""


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the parts sorted and concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8"), usedforsecurity=False).hexdigest()


def signature_matches(given: str, *parts: str) -> bool:
    """Whether `given` is the signature of `parts`, compared in constant time."""
    return hmac.compare_digest(sign(*parts).encode("ascii"), given.encode("utf-8", "replace"))


def timestamp_is_fresh(timestamp: str, now: datetime, window: int = REPLAY_WINDOW_SECONDS) -> bool:
    """Whether a callback's `timestamp` (Unix seconds) is within `window` seconds of `now`."""
    if not timestamp.isdigit() or len(timestamp) > 12:
        return False
    return abs(int(timestamp) - now.timestamp()) <= window


class AccountCrypto:
    """Safe-mode encryption for one account: its token, EncodingAESKey and AppID."""

    def __init__(self, token: str, aes_key: str, appid: str) -> None:
        self.token = token
        self.appid = appid
        self._crypto = WeChatCrypto(token, aes_key, appid)

    def decrypt(self, encrypted: str, msg_signature: str, timestamp: str, nonce: str) -> str:
        """The plaintext XML inside `encrypted`; raises DecryptError when it is not ours.

        The caller has already checked `msg_signature` in constant time; wechatpy checks it again.
        """
        try:
            text: str = self._crypto.decrypt_message({"Encrypt": encrypted}, msg_signature, timestamp, nonce)
        except InvalidAppIdException:
            raise DecryptError(f"the message was encrypted for another AppID than {self.appid}") from None
        except InvalidSignatureException:
            raise DecryptError("msg_signature does not match the encrypted payload") from None
        except (ValueError, binascii.Error, struct.error, IndexError, TypeError) as error:
            # Wrong key or corrupted ciphertext: garbage padding, length or bytes that are not UTF-8.
            raise DecryptError(f"the encrypted payload is corrupt ({type(error).__name__})") from None
        return text

    def encrypt_reply(self, reply_xml: str, timestamp: str, nonce: str | None = None) -> str:
        """The safe-mode reply envelope: <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>."""
        result: str = self._crypto.encrypt_message(reply_xml, nonce or secrets.token_hex(8), timestamp)
        return result


__all__ = [
    "REPLAY_WINDOW_SECONDS",
    "AccountCrypto",
    "DecryptError",
    "sign",
    "signature_matches",
    "timestamp_is_fresh",
]
