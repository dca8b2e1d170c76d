"""The push dispatcher: claims due pushes in batches, decides, sends, and records every outcome.

One batch goes through these steps, each its own transaction where it matters for crash safety:

1. claim (`pending -> claimed`, with this batch's claim token; SKIP LOCKED on PostgreSQL; only the
   earliest open step of each journey run), then, once that has committed, load what the checks need
   for the whole batch (followers, consents, recent sends, API pauses) with a few set-based queries;
2. decide per push (`journeys.policy.decide`) and render the ones to send;
3. send (per follower in order, followers concurrently under a semaphore and the token bucket) through
   the in-flight gate (`journeys.inflight`): right before their API calls, pushes are committed
   `claimed -> sending` in small groups, together with the outcomes of the sends that finished, so a
   crash leaves at most `in_flight` pushes of unknown fate (never resent, see
   `storage.push_sweeps`) and the rest of the claim goes back to the queue. The same
   transaction re-reads the followers' facts under a per-follower lock and decides again, so caps and
   window counts hold against every other dispatcher;
4. record the outcomes of the rest of the batch in one transaction.

`drain()` pipelines batches: while one batch is sending, the next is claimed, checked and rendered, so
most of the database work happens while the connections to WeChat are busy. Only one batch of a drain
is sending at a time.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from base.clock import Clock, wall_seconds_ago
from journeys.inflight import InFlightGate
from journeys.outcomes import BatchReport, OutcomeWriter
from journeys.policy import Decision, DispatchPolicy, PushView, decide
from journeys.ports import PushRenderer, PushSender, RenderFailed, RenderRequest
from journeys.ratelimit import TokenBucket
from journeys.reactions import SENT, SendResult, result_for_error
from storage.db import Database
from storage.push_sweeps import sweep_outbox
from storage.pushes import (
    FollowerFacts,
    active_pauses,
    add_recent_sends,
    claim_due_pushes,
    claim_pushes_of_follower,
    load_follower_facts,
    lock_followers_for_sending,
    mark_sending,
)
from wechat.api.errors import WeChatError

log = logging.getLogger(__name__)
# Look this far back for sends that count against caps (7 days) and windows (48 hours).
FACTS_HORIZON = timedelta(days=8)
# An interaction delivers held pushes in rounds: a round's sends release the later steps of their runs.
DELIVERY_ROUNDS = 8


@dataclass(frozen=True)
class DispatcherConfig:
    """Tuning of one dispatcher process."""

    batch_size: int = 500
    # Sends under way at once (shared by every batch of the process).
    concurrency: int = 48
    # At most this many pushes of a batch are "sending" with no recorded outcome: what a crash can lose.
    # At least `concurrency`, or calls wait for room.
    in_flight: int = 64
    # Pushes marked "sending" per commit at least, while other sends are under way.
    flush_group: int = 24
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
    # Its outcome is committed (by a flush of the in-flight gate), or it is no longer this batch's.
    recorded: bool = False


@dataclass
class _Batch:
    """A claimed batch, decided and rendered: `sendable` are the pushes to send."""

    token: str
    plans: list[_Planned] = field(default_factory=list)
    sendable: list[_Planned] = field(default_factory=list)
    # The followers' facts and the API pauses known when it was claimed.
    facts: dict[int, FollowerFacts] = field(default_factory=dict)
    paused: dict[str, datetime] = field(default_factory=dict)
    report: BatchReport = field(default_factory=BatchReport)


def _view(row: RowMapping) -> PushView:
    return PushView(row["purpose"], row["template_kind"], row["expires_at"], row["quiet_start"], row["quiet_end"])


class PushDispatcher:
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
        return await self._finish(batch)

    async def drain(self, max_batches: int | None = None) -> BatchReport:
        """Process batches until nothing is due (or `max_batches` ran).

        The next batch is claimed, checked and rendered while the current one is sending; it starts
        sending once the current one's outcomes are committed. A claim that finds nothing looks again
        after the batch in flight is recorded, since its pushes may have held back later steps of their
        journey runs.
        """
        total = BatchReport()
        current: asyncio.Task[BatchReport] | None = None
        batches = 0
        try:
            while max_batches is None or batches < max_batches:
                batch = await self._claim_due()
                batches += 1
                finished: BatchReport | None = None
                if current is not None:
                    finishing, current = current, None
                    # Shielded: cancelling drain() must not abandon pushes already "sending".
                    finished = await asyncio.shield(finishing)
                    total.add(finished)
                if batch is None:
                    if finished is not None and finished.claimed:
                        continue
                    break
                current = asyncio.create_task(self._finish(batch))
            if current is not None:
                finishing, current = current, None
                total.add(await asyncio.shield(finishing))
        finally:
            if current is not None:
                # The loop failed or was cancelled: the batch already sending still finishes and
                # records its outcomes (abandoned, its pushes "sending" would end as "unknown").
                await asyncio.gather(current, return_exceptions=True)
        return total

    async def deliver_for_follower(self, follower_id: int) -> BatchReport:
        """The follower just interacted: deliver their held and due pushes inside the new window.

        In rounds: each claims the earliest open step of each of the follower's runs, so the steps a
        round delivers let the next round take the steps after them, in their order.
        """
        total = BatchReport()
        for _ in range(DELIVERY_ROUNDS):
            batch = await self._claimed(functools.partial(claim_pushes_of_follower, follower_id=follower_id))
            if batch is None:
                break
            report = await self._finish(batch)
            total.add(report)
            if not report.sent:
                break
        return total

    async def housekeeping(self) -> dict[str, int]:
        """Expire overdue pushes, requeue held ones whose follower came back, recover dead claims."""
        # Claims are stamped with business time, but a dispatcher dies in real time: on a demo clock
        # running 120 times faster, five minutes of it would declare live sends dead.
        abandoned_before = wall_seconds_ago(self.clock, self.config.claim_timeout.total_seconds())
        changed = await sweep_outbox(self.db, now=self.clock.now(), abandoned_before=abandoned_before)
        if changed["unknown"]:
            log.warning("%d pushes were interrupted mid-send; recorded as unknown, not resent", len(changed["unknown"]))
        return {name: len(ids) for name, ids in changed.items()}

    async def _claim_due(self) -> _Batch | None:
        return await self._claimed(claim_due_pushes)

    async def _claimed(self, claim: Callable[..., Awaitable[list[RowMapping]]]) -> _Batch | None:
        """Claim with `claim` (a storage.pushes claim, given `now`, `token` and `limit`) in a transaction of
        its own, then read what deciding needs once the claim has committed.

        On SQLite a claim holds the writers' turn (storage.writers_turn), which every callback's durable
        write waits for: read inside it, the facts of a batch's followers kept callbacks waiting 7-14 ms
        more per batch while the dispatcher drained. Read after it they are no less current (the claimed
        pushes are this dispatcher's alone), and a fresher read only counts other sends sooner.
        """
        token = uuid.uuid4().hex
        async with self.db.engine.begin() as conn:
            rows = await claim(conn, now=self.clock.now(), token=token, limit=self.config.batch_size)
        if not rows:
            return None
        async with self.db.engine.connect() as conn:
            checks = await self._load_checks(conn, rows)
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
        """Decide about every claimed push and render the ones to send."""
        now = self.clock.now()
        plans = [
            _Planned(row, decide(_view(row), facts.get(row["follower_id"]), now, self.policy, paused)) for row in rows
        ]
        to_send = [plan for plan in plans if plan.decision.action in ("send_custom", "send_template")]
        await self._render(to_send)
        sendable = [plan for plan in to_send if plan.payload is not None]
        return _Batch(token, plans, sendable, facts, paused, BatchReport(claimed=len(plans)))

    async def _finish(self, batch: _Batch) -> BatchReport:
        """Send the batch's pushes through the in-flight gate, then record the outcomes not recorded yet."""

        async def flush(finished: list[_Planned], entering: list[_Planned]) -> list[bool]:
            return await self._flush(batch, finished, entering)

        gate: InFlightGate[_Planned] = InFlightGate(self.config.in_flight, flush, group=self.config.flush_group)
        try:
            await self._send_all(batch.sendable, gate)
            await gate.close()
        except BaseException:
            await gate.abort()
            raise
        rest = [plan for plan in batch.plans if not plan.recorded]
        return await self._writer.write(rest, batch.token, now=self.clock.now(), report=batch.report)

    async def _flush(self, batch: _Batch, finished: list[_Planned], entering: list[_Planned]) -> list[bool]:
        """One commit: the outcomes of `finished`, and "sending" for those of `entering` that still pass.

        The checks run again on facts read under the followers' lock (`lock_followers_for_sending`): a
        push another dispatcher marked meanwhile counts against the caps and window of these.
        """
        now = self.clock.now()
        async with self.db.engine.begin() as conn:
            await lock_followers_for_sending(conn, [plan.row["follower_id"] for plan in entering])
            await self._writer.record(conn, finished, batch.token, now=now, report=batch.report)
            verdicts = await self._check_and_mark(conn, batch, entering, now)
        for plan in finished:
            plan.recorded = True
        return verdicts

    async def _check_and_mark(
        self, conn: AsyncConnection, batch: _Batch, entering: list[_Planned], now: datetime
    ) -> list[bool]:
        if not entering:
            return []
        # Status, windows and consent as read at the claim (seconds ago); the sends, which other
        # dispatchers change, read again now.
        facts = {
            fid: replace(found, marketing_sent=[], custom_sent=[], count_exceeded_at=None)
            for fid in {p.row["follower_id"] for p in entering}
            if (found := batch.facts.get(fid)) is not None
        }
        await add_recent_sends(conn, facts, since=now - FACTS_HORIZON)
        paused = dict(batch.paused)
        for api, until in self._paused.items():
            if until > now and (api not in paused or until > paused[api]):
                paused[api] = until
        passing: list[_Planned] = []
        for plan in entering:
            again = decide(_view(plan.row), facts.get(plan.row["follower_id"]), now, self.policy, paused)
            if again.action == plan.decision.action:
                passing.append(plan)
            else:
                plan.decision = again
        marked: set[int] = set()
        for channel, action in (("custom", "send_custom"), ("template", "send_template")):
            ids = [p.row["id"] for p in passing if p.decision.action == action]
            marked.update(await mark_sending(conn, ids=ids, token=batch.token, now=now, channel=channel))
        for plan in passing:
            if plan.row["id"] not in marked:
                # Recovered as a dead dispatcher's claim meanwhile: no longer this batch's to send or record.
                log.warning("push %s: its claim was taken back before it could be sent", plan.row["id"])
                plan.recorded = True
        return [plan.row["id"] in marked for plan in entering]

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

    async def _send_all(self, plans: Sequence[_Planned], gate: InFlightGate[_Planned]) -> None:
        by_follower: dict[int, list[_Planned]] = defaultdict(list)
        for plan in plans:
            by_follower[plan.row["follower_id"]].append(plan)
        groups = iter(by_follower.values())

        async def send_groups() -> None:
            # A few workers share one iterator (safe: `next` never awaits), instead of a task per follower.
            for group in groups:
                await self._send_in_order(group, gate)

        workers = min(self.config.concurrency, self.config.in_flight, len(by_follower))
        tasks = [asyncio.create_task(send_groups()) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def _paused_until(self, api: str) -> datetime | None:
        until = self._paused.get(api) if self._paused else None
        return until if until is not None and until > self.clock.now() else None

    async def _send_in_order(self, group: list[_Planned], gate: InFlightGate[_Planned]) -> None:
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
            if not await gate.enter(plan):
                continue  # checked again under the follower's lock, it must not go now (its decision says why)
            try:
                plan.result = await self._send_one(plan, api)
            finally:
                gate.leave(plan)
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
                msg_id = ""
                if api == "custom":
                    await self.sender.send_custom(appid, payload)
                else:
                    msg_id = await self.sender.send_template(appid, payload)
            except WeChatError as error:
                return result_for_error(error, now=self.clock.now(), api=api)
            except ValueError as error:
                # The client refused the payload before sending anything.
                return SendResult("failed", f"payload refused before sending: {error}"[:200])
            except Exception as error:
                # A bug, not WeChat: the request may have left, so the push must not be sent again.
                log.exception("push %s: unexpected error while sending", plan.row["id"])
                return SendResult("unknown", f"unexpected error while sending: {error!r}"[:200])
        return SendResult("sent", msg_id=msg_id) if msg_id else SENT


__all__ = ["PushDispatcher", "DispatcherConfig", "RenderFailed"]
