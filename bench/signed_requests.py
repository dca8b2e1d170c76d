"""Pre-signed, distinct WeChat text-message callbacks, written as raw HTTP/1.1 requests for wrk's Lua script.

Built from the protocol itself (WECHAT.md), not from the product's code, so a fault in the product's crypto
cannot hide in the benchmark: URL signature = sha1(sorted(token, timestamp, nonce)); safe mode adds
msg_signature = sha1(sorted(token, timestamp, nonce, Encrypt)) over AES-256-CBC (IV = key[:16]) of
16 random bytes + 4-byte length + XML + AppID, PKCS#7-padded to 32 bytes.

Every request has its own MsgId and nonce (a counter shared by the whole run) and comes from one of
`FOLLOWERS` followers; timestamps are the moment the file is written, so a cell starts well inside the
replay window.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

if TYPE_CHECKING:
    # Only for the annotation: bench.clicks needs SQLAlchemy, which the peers' venv (WeRoBot, wechatpy)
    # that imports this module for its keys does not have.
    from bench.clicks import ClickMaterial


TOKEN = "benchtoken"  # noqa: S105 - a fixed benchmark secret, not a credential
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx1234567890abcdef"
APPSECRET = "bench-secret"  # noqa: S105 - accepted by the fake WeChat API, which takes any secret
ORIGINAL_ID = "gh_bench0000001"
FOLLOWERS = 500
MODES = ("plaintext", "safe")
# A product target's tracked-link cells (bench/clicks.py): GET /l/<token> instead of a callback.
CLICK_MODE = "click"


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's signature


def follower_openid(number: int) -> str:
    return f"oBench{number % FOLLOWERS:022d}"


def text_xml(openid: str, content: str, msg_id: int, create_time: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


class SafeModeSealer:
    """Encrypts a callback body as WeChat does in safe mode."""

    def __init__(self, aes_key: str = AES_KEY, appid: str = APPID) -> None:
        self._key = base64.b64decode(aes_key + "=")
        self._appid = appid.encode()

    def seal(self, xml: str) -> str:
        body = xml.encode()
        plain = os.urandom(16) + struct.pack(">I", len(body)) + body + self._appid
        pad = 32 - len(plain) % 32
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).encryptor()
        sealed = encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()
        return base64.b64encode(sealed).decode()


@dataclass
class RequestFactory:
    """Numbers every message of a run, so no two requests of any cell are the same message."""

    host: str
    sealer: SafeModeSealer
    _next: int = 0
    _run: int = field(default_factory=lambda: int(time.time()))
    # Set for a product's click cells (bench/clicks.py): mode "click" sends GET /l/<token>.
    clicks: ClickMaterial | None = None

    def take(self, count: int) -> range:
        numbers = range(self._next, self._next + count)
        self._next += count
        return numbers

    def build(self, mode: str, number: int, timestamp: int) -> bytes:
        """One POST callback (text message `number`), or a click in mode "click", as the bytes sent on the wire."""
        if mode == CLICK_MODE:
            if self.clicks is None:
                raise RuntimeError("click requests need the product's click material")
            return f"GET {self.clicks.path(number)} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()
        openid, nonce, ts = follower_openid(number), f"n{self._run}x{number}", str(timestamp)
        xml = text_xml(openid, f"你好 {number}", self._run * 1_000_000_000 + number, timestamp)
        params = {"signature": sha1_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": openid}
        if mode == "safe":
            encrypted = self.sealer.seal(xml)
            params |= {"encrypt_type": "aes", "msg_signature": sha1_signature(TOKEN, ts, nonce, encrypted)}
            xml = f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            xml += "</xml>"
        body = xml.encode()
        head = (
            f"POST /wechat?{urlencode(params)} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def handshake(self, timestamp: int) -> bytes:
        """The URL check (GET with echostr): sent instead of a message once a thread's file is used up."""
        ts, nonce = str(timestamp), "handshake"
        query = urlencode({"signature": sha1_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce})
        return f"GET /wechat?{query}&echostr=bench-echo HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()


def _records(requests: Iterator[bytes]) -> Iterator[bytes]:
    for raw in requests:
        yield b"%d\n" % len(raw)
        yield raw


def _write_file(factory: RequestFactory, mode: str, numbers: range, timestamp: int, path: str) -> None:
    with open(path, "wb") as out:
        out.writelines(_records(factory.build(mode, n, timestamp) for n in numbers))


def write_request_files(factory: RequestFactory, mode: str, count: int, threads: int, prefix: Path) -> None:
    """`count` fresh requests dealt round-robin into `prefix`.0 .. `prefix`.(threads-1), plus `prefix`.handshake.

    Each record is its length in ASCII digits, a newline, then the raw request (what the Lua script reads).
    One process per file: signing and sealing half a million requests takes seconds, not tens of them.
    """
    now = int(time.time())
    numbers = factory.take(count)
    with ProcessPoolExecutor(max_workers=threads) as pool:
        jobs = [
            pool.submit(_write_file, factory, mode, numbers[thread::threads], now, f"{prefix}.{thread}")
            for thread in range(threads)
        ]
        for job in jobs:
            job.result()
    Path(f"{prefix}.handshake").write_bytes(factory.handshake(now))
