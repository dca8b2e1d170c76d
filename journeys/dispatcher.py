"""The push dispatcher: claims due pushes in batches, decides, sends, and records every outcome.

One batch goes through four steps, each its own transaction where it matters for crash safety:

1. claim (`pending -> claimed`, with this batch's claim token; SKIP LOCKED on PostgreSQL), and in the
   same transaction load what the checks need for the whole batch (followers, consents, recent sends,
   API pauses) with a few set-based queries;
2. decide per push (`journeys.policy.decide`) and render the ones to send;
3. commit `claimed -> sending` for those, before any API call, so a crash after the call can never
   lead to a second send (see `storage.pushes.recover_stale_claims`);
4. send (per follower in order, followers concurrently under a semaphore and the token bucket), then
   write every outcome, outcome record, follower mark and API pause in one transaction.

`drain()` pipelines batches: while one batch is sending, the next is claimed, checked and rendered, so
most of the database work happens while the connections to WeChat are busy. Only one batch is
"sending" at a time (a crash leaves at most one batch of unknown fate), and the next batch's checks are
loaded after the current batch committed its "sending" rows, so its caps and window counts include the
sends in flight.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.wechat_api.errors import WeChatError
from journeys.outcomes import BatchReport, OutcomeWriter
from journeys.policy import Decision, DispatchPolicy, PushView, decide
from journeys.ports import PushRenderer, PushSender, RenderFailed, RenderRequest
from journeys.ratelimit import TokenBucket
from journeys.reactions import SENT, SendResult, result_for_error
from scrm.clock import Clock
from storage.db import Database
from storage.pushes import (
    FollowerFacts,
    active_pauses,
    claim_due_pushes,
    claim_pushes_of_follower,
    expire_overdue,
    insert_attempts,
    load_follower_facts,
    mark_sending,
    recover_stale_claims,
    release_held_after_interaction,
)

log = logging.getLogger(__name__)
# Look this far back for sends that count against caps (7 days) and windows (48 hours).
FACTS_HORIZON = timedelta(days=8)


@dataclass(frozen=True)
class DispatcherConfig:
    """Tuning of one dispatcher process."""

    batch_size: int = 500
    concurrency: int = 64
    rate_per_second: float = 2000.0
    max_attempts: int = 5
    backoff_base: timedelta = timedelta(seconds=30)
    # A claim older than this belongs to a dead process (a live batch finishes in seconds).
    claim_timeout: timedelta = timedelta(minutes=5)


@dataclass
class _Planned:
    row: RowMapping
    decision: Decision
    payload: dict[str, Any] | None = None
    result: SendResult | None = None


@dataclass
class _Batch:
    """A claimed batch, decided and rendered: `sendable` are the pushes to send."""

    token: str
    plans: list[_Planned] = field(default_factory=list)
    sendable: list[_Planned] = field(default_factory=list)


class Dispatcher:
    """Sends due pushes through the channel WeChat allows at that moment."""

    def __init__(
        self,
        db: Database,
        sender: PushSender,
        renderer: PushRenderer,
        clock: Clock,
        policy: DispatchPolicy,
        config: DispatcherConfig | None = None,
    ) -> None:
        self.db = db
        self.sender = sender
        self.renderer = renderer
        self.clock = clock
        self.policy = policy
        self.config = config or DispatcherConfig()
        self.bucket = TokenBucket(self.config.rate_per_second, max(1, int(self.config.rate_per_second // 10)))
        self._semaphore = asyncio.Semaphore(self.config.concurrency)
        self._writer = OutcomeWriter(db, self.config)
        # APIs a send of this process found paused (45009, 48001...), until when.
        self._paused: dict[str, datetime] = {}

    async def dispatch_batch(self) -> BatchReport:
        """Claim and process one batch of due pushes; an empty report means nothing was due."""
        batch = await self._claim_due()
        if batch is None:
            return BatchReport()
        await self._mark_sending(batch.sendable, batch.token)
        return await self._finish(batch)

    async def drain(self, max_batches: int | None = None) -> BatchReport:
        """Process batches until nothing is due (or `max_batches` ran).

        The next batch is claimed, checked and rendered while the current one is sending; it is marked
        "sending" only once the current one's outcomes are committed, so a crash leaves at most one
        batch of pushes whose fate is unknown.
        """
        total = BatchReport()
        current: asyncio.Task[BatchReport] | None = None
        batches = 0
        try:
            while max_batches is None or batches < max_batches:
                batch = await self._claim_due()
                batches += 1
                if current is not None:
                    finishing, current = current, None
                    # Shielded: cancelling drain() must not abandon pushes already "sending".
                    total.add(await asyncio.shield(finishing))
                if batch is None:
                    break
                await self._mark_sending(batch.sendable, batch.token)
                current = asyncio.create_task(self._finish(batch))
                if len(batch.plans) < self.config.batch_size:
                    break
            if current is not None:
                finishing, current = current, None
                total.add(await asyncio.shield(finishing))
        finally:
            if current is not None:
                # The loop failed or was cancelled: the batch already "sending" still finishes and
                # records its outcomes (abandoned, its pushes would end as "unknown").
                await asyncio.gather(current, return_exceptions=True)
        return total

    async def deliver_for_follower(self, follower_id: int) -> BatchReport:
        """The follower just interacted: deliver their held and due pushes inside the new window."""
        token = uuid.uuid4().hex
        async with self.db.engine.begin() as conn:
            rows = await claim_pushes_of_follower(
                conn, follower_id=follower_id, now=self.clock.now(), token=token, limit=self.config.batch_size
            )
            checks = await self._load_checks(conn, rows)
        if not rows:
            return BatchReport()
        batch = await self._prepare(rows, token, *checks)
        await self._mark_sending(batch.sendable, batch.token)
        return await self._finish(batch)

    async def housekeeping(self) -> dict[str, int]:
        """Expire overdue pushes, requeue held ones whose follower came back, recover dead claims."""
        now = self.clock.now()
        async with self.db.engine.begin() as conn:
            expired = await expire_overdue(conn, now=now)
            released = await release_held_after_interaction(conn, now=now)
            recovered = await recover_stale_claims(conn, now=now, older_than=now - self.config.claim_timeout)
            records = [{"push_id": i, "at": now, "outcome": "expired", "reason": "expired"} for i in expired]
            records += [
                {"push_id": i, "at": now, "outcome": "released", "reason": "follower interacted"} for i in released
            ]
            records += [
                {"push_id": i, "at": now, "outcome": "released", "reason": "claim of a dead dispatcher"}
                for i in recovered["released"]
            ]
            records += [
                {"push_id": i, "at": now, "outcome": "unknown", "reason": "interrupted mid-send"}
                for i in recovered["unknown"]
            ]
            await insert_attempts(conn, [{"channel": "", "errcode": None, **r} for r in records])
        if recovered["unknown"]:
            log.warning(
                "%d pushes were interrupted mid-send; recorded as unknown, not resent", len(recovered["unknown"])
            )
        return {
            "expired": len(expired),
            "released": len(released),
            "reclaimed": len(recovered["released"]),
            "unknown": len(recovered["unknown"]),
        }

    async def _claim_due(self) -> _Batch | None:
        token = uuid.uuid4().hex
        async with self.db.engine.begin() as conn:
            rows = await claim_due_pushes(conn, now=self.clock.now(), limit=self.config.batch_size, token=token)
            checks = await self._load_checks(conn, rows)
        if not rows:
            return None
        return await self._prepare(rows, token, *checks)

    async def _load_checks(
        self, conn: AsyncConnection, rows: Sequence[RowMapping]
    ) -> tuple[dict[int, FollowerFacts], dict[str, datetime]]:
        """The facts of the batch's followers and the APIs paused now (in the database or seen here)."""
        if not rows:
            return {}, {}
        now = self.clock.now()
        facts = await load_follower_facts(conn, {r["follower_id"] for r in rows}, since=now - FACTS_HORIZON)
        paused = await active_pauses(conn, now=now)
        for api, until in self._paused.items():
            if until > now and (api not in paused or until > paused[api]):
                paused[api] = until
        return facts, paused

    async def _prepare(
        self, rows: Sequence[RowMapping], token: str, facts: dict[int, FollowerFacts], paused: dict[str, datetime]
    ) -> _Batch:
        """Decide about every claimed push and render the ones to send (the caller marks them "sending")."""
        now = self.clock.now()
        policy = self.policy
        plans = [
            _Planned(
                row,
                decide(
                    PushView(
                        row["purpose"], row["template_kind"], row["expires_at"], row["quiet_start"], row["quiet_end"]
                    ),
                    facts.get(row["follower_id"]),
                    now,
                    policy,
                    paused,
                ),
            )
            for row in rows
        ]
        to_send = [plan for plan in plans if plan.decision.action in ("send_custom", "send_template")]
        await self._render(to_send)
        sendable = [plan for plan in to_send if plan.payload is not None]
        return _Batch(token, plans, sendable)

    async def _finish(self, batch: _Batch) -> BatchReport:
        """Send the batch's pushes (committed as "sending"), then record every outcome in one transaction."""
        await self._send_all(batch.sendable)
        return await self._writer.write(batch.plans, batch.token, now=self.clock.now())

    async def _render(self, plans: Sequence[_Planned]) -> None:
        if not plans:
            return
        requests = [
            RenderRequest(
                push_id=plan.row["id"],
                template_version_id=plan.row["template_version_id"],
                template_kind=plan.row["template_kind"],
                appid=plan.row["appid"],
                openid=plan.row["openid"],
                follower_id=plan.row["follower_id"],
                profile_id=plan.row["profile_id"],
                context=dict(plan.row["context"] or {}),
            )
            for plan in plans
        ]
        rendered = await self.renderer.render_many(requests)
        for plan, outcome in zip(plans, rendered, strict=True):
            if isinstance(outcome, RenderFailed):
                plan.result = result_for_error(outcome, now=self.clock.now(), api="render")
            else:
                plan.payload = outcome

    async def _mark_sending(self, plans: Sequence[_Planned], token: str) -> None:
        if not plans:
            return
        now = self.clock.now()
        async with self.db.engine.begin() as conn:
            for channel, action in (("custom", "send_custom"), ("template", "send_template")):
                ids = [p.row["id"] for p in plans if p.decision.action == action]
                await mark_sending(conn, ids=ids, token=token, now=now, channel=channel)

    async def _send_all(self, plans: Sequence[_Planned]) -> None:
        by_follower: dict[int, list[_Planned]] = defaultdict(list)
        for plan in plans:
            by_follower[plan.row["follower_id"]].append(plan)
        groups = iter(by_follower.values())

        async def send_groups() -> None:
            # A few workers share one iterator (safe: `next` never awaits), instead of a task per follower.
            for group in groups:
                await self._send_in_order(group)

        await asyncio.gather(*(send_groups() for _ in range(min(self.config.concurrency, len(by_follower)))))

    def _paused_until(self, api: str) -> datetime | None:
        until = self._paused.get(api) if self._paused else None
        return until if until is not None and until > self.clock.now() else None

    async def _send_in_order(self, group: list[_Planned]) -> None:
        """One follower's pushes, oldest first; a window refusal holds the rest without calling WeChat."""
        stop: SendResult | None = None
        for plan in group:
            api = "custom" if plan.decision.action == "send_custom" else "template"
            if stop is not None:
                plan.result = stop
                continue
            paused_until = self._paused_until(api)
            if paused_until is not None:
                plan.result = SendResult("paused", "API paused by an earlier send", pause_until=paused_until)
                continue
            plan.result = await self._send_one(plan, api)
            if plan.result.outcome == "paused" and plan.result.pause_until is not None:
                # Every batch of this process stops calling that API at once, not only after the pause
                # row is committed (other processes learn it from the api_pauses table).
                self._paused[api] = max(plan.result.pause_until, self._paused.get(api, plan.result.pause_until))
            if plan.result.outcome == "held":
                stop = SendResult(
                    "held", "an earlier push of this follower was refused the window", plan.result.errcode
                )

    async def _send_one(self, plan: _Planned, api: str) -> SendResult:
        payload = plan.payload or {}
        appid = plan.row["appid"]
        async with self._semaphore:
            await self.bucket.acquire()
            try:
                if api == "custom":
                    await self.sender.send_custom(appid, payload)
                else:
                    await self.sender.send_template(appid, payload)
            except WeChatError as error:
                return result_for_error(error, now=self.clock.now(), api=api)
            except ValueError as error:
                # The client refused the payload before sending anything.
                return SendResult("failed", f"payload refused before sending: {error}"[:200])
            except Exception as error:
                # A bug, not WeChat: the request may have left, so the push must not be sent again.
                log.exception("push %s: unexpected error while sending", plan.row["id"])
                return SendResult("unknown", f"unexpected error while sending: {error!r}"[:200])
        return SENT


__all__ = ["Dispatcher", "DispatcherConfig", "RenderFailed"]
