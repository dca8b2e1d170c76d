"""`GET|POST /wechat[/{appid}]`: verify, decrypt, parse, de-duplicate, dispatch, answer within the deadline.

The order is WeChat's: handshake or signature first, then the replay window, then (safe mode) decryption,
then parsing into a typed event. Every refusal is a 4xx with one log line, never a 500. A handler that
is not done by `settings.reply_deadline` keeps running: the callback answers `success` and the reply goes
out through the customer-service API (`services.wechat_api.send_custom_message`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from base.clock import real_clock
from base.metrics import metrics
from gateway.accounts import AccountDirectory, ServedAccount
from gateway.background import BackgroundWork
from gateway.dedup import DuplicateGate
from handlers.context import HandlerContext, Services
from handlers.router import Dispatcher
from storage.inbound import finish_delivery
from wechat.crypto import DecryptError, signature_matches, timestamp_is_fresh
from wechat.events import Inbound, MalformedCallback, Message, build_event
from wechat.replies import NewsReply, Reply
from wechat.xmlparse import XMLError, parse_xml

log = logging.getLogger("scrm.gateway")

MAX_BODY = 64 * 1024
SUCCESS = "success"


class Rejected(Exception):
    """A callback refused with an HTTP status and a reason for the log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class OpenedCallback:
    """A verified callback: its typed event and whether the answer must be encrypted."""

    event: Inbound
    encrypted: bool
    nonce: str


async def read_body(request: web.Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refusing (413) anything over `limit` by header or by the bytes actually sent."""
    if request.content_length is not None and request.content_length > limit:
        raise Rejected(413, f"Content-Length {request.content_length} over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(limit + 1)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise Rejected(413, f"body over {limit} bytes")
        chunks.append(chunk)


def open_callback(served: ServedAccount, query: Any, body: bytes, now_ok: Any) -> OpenedCallback:
    """Check signatures and freshness, decrypt when needed, and build the typed event.

    `now_ok(timestamp)` tells whether the signed timestamp is inside the replay window.
    """
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    encrypted_mode = query.get("encrypt_type", "raw").lower() == "aes"
    if encrypted_mode:
        outer = _parse(body)
        encrypted = outer.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise Rejected(400, "encrypt_type=aes without an <Encrypt> element")
        if served.crypto is None:
            if "MsgType" not in outer:
                raise Rejected(
                    400, f"safe-mode callback but account {served.appid} has no EncodingAESKey (WECHAT_AES_KEY)"
                )
            # Compatible mode on an account without a key: serve the plaintext half, answer in plaintext.
            _check_url_signature(served, query, timestamp, nonce, now_ok)
            return OpenedCallback(_build(outer), encrypted=False, nonce=nonce)
        if not signature_matches(query.get("msg_signature", ""), served.token, timestamp, nonce, encrypted):
            raise Rejected(403, "msg_signature does not match")
        if not now_ok(timestamp):
            raise Rejected(403, f"timestamp {timestamp!r} outside the replay window")
        try:
            plain = served.crypto.decrypt(encrypted, query.get("msg_signature", ""), timestamp, nonce)
        except DecryptError as error:
            raise Rejected(400, str(error)) from None
        return OpenedCallback(_build(_parse(plain.encode("utf-8"))), encrypted=True, nonce=nonce)
    _check_url_signature(served, query, timestamp, nonce, now_ok)
    raw = _parse(body)
    if "Encrypt" in raw and "MsgType" not in raw:
        raise Rejected(400, "encrypted body without encrypt_type=aes on the URL")
    return OpenedCallback(_build(raw), encrypted=False, nonce=nonce)


def _check_url_signature(served: ServedAccount, query: Any, timestamp: str, nonce: str, now_ok: Any) -> None:
    if not signature_matches(query.get("signature", ""), served.token, timestamp, nonce):
        raise Rejected(403, "signature does not match")
    if not now_ok(timestamp):
        raise Rejected(403, f"timestamp {timestamp!r} outside the replay window")


def _parse(body: bytes) -> dict[str, Any]:
    try:
        return parse_xml(body)
    except XMLError as error:
        raise Rejected(400, str(error)) from None


def _build(raw: dict[str, Any]) -> Inbound:
    try:
        return build_event(raw)
    except MalformedCallback as error:
        raise Rejected(400, str(error)) from None


class CallbackEndpoint:
    """The aiohttp handler of the callback URL; one per process."""

    def __init__(
        self,
        services: Services,
        dispatcher: Dispatcher,
        accounts: AccountDirectory,
        background: BackgroundWork,
    ) -> None:
        self.services = services
        self.dispatcher = dispatcher
        self.accounts = accounts
        self.background = background
        # WeChat retries in real time: the ledger's times are wall time (the purge job reads them so too).
        self.gate = DuplicateGate(services.db, real_clock(services.clock))

    def _fresh(self, timestamp: str) -> bool:
        # WeChat signs with the wall clock: a demo clock's speed-up must not shrink the replay window.
        return timestamp_is_fresh(timestamp, real_clock(self.services.clock).now())

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Entry point for GET (handshake) and POST (messages and events)."""
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        response, outcome = await self._handle(request, arrived + self.services.settings.reply_deadline)
        counted = metrics()
        counted.callbacks.labels(outcome).inc()
        counted.callback_seconds.observe(loop.time() - arrived)
        return response

    async def _handle(self, request: web.Request, deadline: float) -> tuple[web.StreamResponse, str]:
        """The answer and its outcome for the metrics: inline, success, late, duplicate, rejected, handshake."""
        appid = request.match_info.get("appid")
        served = await (self.accounts.by_appid(appid) if appid else self.accounts.default())
        if served is None:
            log.warning("callback for an account this deployment does not serve appid=%s", appid or "(default)")
            return web.Response(status=404, text="unknown account"), "rejected"
        try:
            if request.method == "GET":
                return self._handshake(served, request), "handshake"
            body = await read_body(request)
            opened = open_callback(served, request.query, body, self._fresh)
        except Rejected as refusal:
            log.warning(
                "callback rejected status=%d reason=%s appid=%s remote=%s",
                refusal.status,
                refusal.reason,
                served.appid,
                request.remote,
                extra={"status": refusal.status, "appid": served.appid},
            )
            return web.Response(status=refusal.status, text=refusal.reason), "rejected"
        return await self._answer(request, served, opened, deadline)

    def _handshake(self, served: ServedAccount, request: web.Request) -> web.Response:
        query = request.query
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        _check_url_signature(served, query, timestamp, nonce, self._fresh)
        log.info("handshake verified appid=%s", served.appid)
        return web.Response(text=query.get("echostr", ""))

    async def _answer(
        self, request: web.Request, served: ServedAccount, opened: OpenedCallback, deadline: float
    ) -> tuple[web.StreamResponse, str]:
        event = opened.event
        # The follower middleware's write (when it is in the chain) is committed with the claim: one hop
        # to the writer and one transaction per callback instead of two.
        write = self.dispatcher.write_with_claim(event, served.appid, self.services.clock.now())
        claim = await self.gate.claim(event, served.appid, then=write)
        delivery_id = claim.delivery_id
        if delivery_id is None:
            reply = await self.gate.answer_retry(event, deadline)
            log.info("duplicate delivery msg_id=%s kind=%s answered=%s", event.message_id, event.key, _name(reply))
            return self._render(served, opened, reply), "duplicate"
        ctx = HandlerContext(services=self.services, account=served.account)
        if claim.error is not None:
            # The follower middleware writes it again, alone; its own failure then reaches the errors middleware.
            log.warning("follower write failed with the claim msg_id=%s: %r", event.message_id, claim.error)
        ctx.follower_record = claim.written
        handling = asyncio.create_task(self.dispatcher.feed(event, ctx), name=f"callback {event.message_id}")
        done, _ = await asyncio.wait({handling}, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
        if not done:
            log.warning(
                "reply deadline passed msg_id=%s kind=%s: answered success, the reply will go through the API",
                event.message_id,
                event.key,
            )
            self.gate.answered(event, None)
            self.background.spawn(
                self._deliver_late(served, event, ctx, handling, delivery_id), name=f"late reply {event.message_id}"
            )
            return web.Response(text=SUCCESS), "late"
        reply = _result(handling, event)
        self.gate.answered(event, reply)
        response = self._render(served, opened, reply)
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            # The peer hung up (WeChat gave up, or a worker drains while its client goes): nothing of ours
            # failed. The answer is kept for WeChat's retry; aiohttp drops the connection quietly.
            log.info("connection closed before the answer was written msg_id=%s", event.message_id)
        finally:
            # Bookkeeping and hooks start only once the answer is on its way, so they never delay it.
            via = "inline" if reply is not None else "none"
            self.background.spawn(
                self._after_reply(event, ctx, delivery_id, reply, via), name=f"after {event.message_id}"
            )
        # DEBUG: at thousands of callbacks a second a line each is a cost of its own; /metrics counts them.
        log.debug("callback answered msg_id=%s kind=%s reply=%s", event.message_id, event.key, _name(reply))
        return response, "inline" if reply is not None else "success"

    def _render(self, served: ServedAccount, opened: OpenedCallback, reply: Reply | None) -> web.Response:
        if reply is None:
            return web.Response(text=SUCCESS)
        event = opened.event
        if isinstance(reply, NewsReply) and isinstance(event, Message) and len(reply.articles) > 1:
            # WeChat shows only one article in an answer to a message; send the first, as it would.
            reply = NewsReply(articles=reply.articles[:1])
        now = str(int(self.services.clock.now().timestamp()))
        xml = reply.to_xml(to_user=event.from_user, from_user=event.to_user, create_time=int(now))
        if opened.encrypted and served.crypto is not None:
            xml = served.crypto.encrypt_reply(xml, now, opened.nonce or None)
        return web.Response(text=xml, content_type="application/xml")

    async def _after_reply(
        self, event: Inbound, ctx: HandlerContext, delivery_id: int, reply: Reply | None, via: str
    ) -> None:
        try:
            await finish_delivery(
                self.services.db,
                delivery_id,
                reply=reply.to_doc() if reply is not None else None,
                delivered_via=via,
                finished_at=self.services.clock.now(),
                writer=self.gate.writer,
            )
        finally:
            self.gate.finished(event)
        await self._run_hooks(event, ctx)

    async def _deliver_late(
        self,
        served: ServedAccount,
        event: Inbound,
        ctx: HandlerContext,
        handling: asyncio.Task[Reply | None],
        delivery_id: int,
    ) -> None:
        await asyncio.wait({handling})
        reply = _result(handling, event)
        via = "none"
        if reply is not None:
            via = await self._send_through_api(served.appid, event, reply)
        await self._after_reply(event, ctx, delivery_id, reply, via)

    async def _send_through_api(self, appid: str, event: Inbound, reply: Reply) -> str:
        api = self.services.wechat_api
        if api is None:
            log.error("late reply dropped: no wechat_api service msg_id=%s kind=%s", event.message_id, event.key)
            return "none"
        try:
            payload = reply.api_payload(event.openid)
        except ValueError as error:
            log.error("late reply dropped msg_id=%s: %s", event.message_id, error)
            return "none"
        try:
            await api.send_custom_message(appid, payload)
        except Exception:
            log.exception("late reply failed through the API msg_id=%s kind=%s", event.message_id, event.key)
            return "none"
        log.info("late reply sent through the API msg_id=%s kind=%s", event.message_id, event.key)
        return "api"

    async def _run_hooks(self, event: Inbound, ctx: HandlerContext) -> None:
        for work in ctx.after_reply:
            try:
                await work()
            except Exception:
                log.exception(
                    "after-reply work failed msg_id=%s work=%s", event.message_id, getattr(work, "__qualname__", work)
                )


def _result(handling: asyncio.Task[Reply | None], event: Inbound) -> Reply | None:
    """The handler's reply; an exception that escaped every middleware is logged and answered `success`."""
    error = handling.exception()
    if error is not None:
        log.error("dispatch failed msg_id=%s kind=%s", event.message_id, event.key, exc_info=error)
        return None
    return handling.result()


def _name(reply: Reply | None) -> str:
    return reply.kind if reply is not None else SUCCESS


__all__ = ["MAX_BODY", "CallbackEndpoint", "OpenedCallback", "Rejected", "open_callback", "read_body"]
