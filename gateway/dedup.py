"""Duplicate deliveries: claim each message once, answer WeChat's retries with the first reply.

WeChat retries a callback it got no answer to within 5 seconds (3 deliveries over ~15 s), and a retry
may reach any gateway process. The claim is an INSERT into `inbound_events` (see `storage.inbound` for
the rules), so exactly one delivery runs the handler. A retry then:

- finds the first delivery done: answers its stored reply again if it went back inline (that answer may
  be what WeChat never received), else `success` (the reply went through the API, or there was none);
- finds it still processing: waits - on an in-process future when the first delivery runs in this
  process, by polling the row otherwise - until its own deadline, then answers `success`;
- finds it stale (the first process died mid-callback): answers `success` at once. The handler is never
  run a second time, because it may already have had effects.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TypeVar

from base.clock import Clock
from storage.db import Database
from storage.group_commit import Write, group_commit
from storage.inbound import DONE, PROCESSING, Claim, claim_and_write, find_delivery
from wechat.events import Inbound
from wechat.replies import Reply, reply_from_doc

log = logging.getLogger("scrm.gateway.dedup")

T = TypeVar("T")

# How often a retry re-reads the first delivery's row when that delivery runs in another process.
POLL_INTERVAL = 0.05


class DuplicateGate:
    """Claims deliveries and answers retries; one per process."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        # Claims and ledger updates of concurrent callbacks share commits (SQLite's one writer).
        self.writer = group_commit(db)
        # First deliveries running in this process: retries here wait on these instead of polling.
        self._local: dict[str, asyncio.Future[Reply | None]] = {}

    async def claim(self, event: Inbound, appid: str, then: Write[T] | None = None) -> Claim[T]:
        """Claim the delivery (`delivery_id` None: a retry) and, for a first delivery only, run `then` with it.

        `then` shares the claim's transaction (see `storage.inbound.claim_and_write`).
        """
        claim = await claim_and_write(
            self._db,
            dedup_key=event.dedup_key,
            appid=appid,
            openid=event.openid,
            kind=event.key,
            msg_id=getattr(event, "msg_id", None) or None,
            received_at=self._clock.now(),
            payload=event.raw,
            writer=self.writer,
            then=then,
        )
        if claim.delivery_id is not None:
            self._local[event.dedup_key] = asyncio.get_running_loop().create_future()
        return claim

    def answered(self, event: Inbound, inline_reply: Reply | None) -> None:
        """The first delivery was answered: with `inline_reply`, or None for `success` (deferred or empty)."""
        waiter = self._local.get(event.dedup_key)
        if waiter is not None and not waiter.done():
            waiter.set_result(inline_reply)

    def finished(self, event: Inbound) -> None:
        """The first delivery's row is final: later retries can read it from the database."""
        waiter = self._local.pop(event.dedup_key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def answer_retry(self, event: Inbound, deadline: float) -> Reply | None:
        """The answer for a duplicate delivery, decided by `deadline` (an event-loop time) at the latest."""
        loop = asyncio.get_running_loop()
        local = self._local.get(event.dedup_key)
        if local is not None:
            try:
                return await asyncio.wait_for(asyncio.shield(local), timeout=max(0.0, deadline - loop.time()))
            except TimeoutError:
                log.info("retry answered success: first delivery still running msg_id=%s", event.message_id)
                return None
        while True:
            found = await find_delivery(self._db, event.dedup_key)
            if found is None:
                # Purged already: far outside WeChat's retry period, so it was handled long ago.
                return None
            if found.state == DONE:
                if found.delivered_via == "inline" and found.reply is not None:
                    return reply_from_doc(found.reply)
                return None
            if found.state != PROCESSING or found.is_stale(self._clock.now()):
                log.warning(
                    "retry answered success: first delivery %s msg_id=%s",
                    "abandoned" if found.state != PROCESSING else "stale",
                    event.message_id,
                )
                return None
            if loop.time() + POLL_INTERVAL >= deadline:
                log.info("retry answered success: first delivery still running msg_id=%s", event.message_id)
                return None
            await asyncio.sleep(POLL_INTERVAL)


__all__ = ["POLL_INTERVAL", "DuplicateGate"]
