"""The periodic jobs of journeys: plain async functions of a JourneyRuntime, registered in JOBS.

The scheduler (journeys.scheduler) runs them on the leader only; tests call them directly with a
FakeClock in the runtime's services.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from base.clock import real_clock, start_of_china_day
from base.metrics import count_pushes
from identity.unionids import UnionidFetcher
from journeys.catalogue import enabled_journeys
from journeys.enrolment import NO_PURCHASE
from journeys.report import journey_report
from journeys.runtime import JourneyRuntime
from storage.events import NewEvent, insert_event_once
from storage.inbound import purge_deliveries
from storage.journeys import subscribed_since_with_last_order
from storage.models.core import AuditEntry
from storage.profile_list import unenrolled_followers

log = logging.getLogger(__name__)


# How long one run of a 5-second job keeps working before it lets the next tick continue. Work left over
# (a backlog an import created) goes on at the next tick: a run never outlasts the stall check
# (journeys.scheduler), and between its short transactions other writers get their turn.
SLICE_SECONDS = 3.0
# Domain events handled per transaction: on SQLite a transaction that wrote holds the only write lock
# until it commits, and callbacks wait behind it. A batch reads what its events need up front
# (journeys.event_batch), so 100 events take a few tens of milliseconds.
EVENTS_PER_TRANSACTION = 100
DUE_RUNS_PER_TRANSACTION = 100


class Budget:
    """A run's time budget, on the monotonic clock (real time, whatever the product's clock says)."""

    def __init__(self, seconds: float) -> None:
        self._until = time.monotonic() + seconds

    def left(self) -> bool:
        return time.monotonic() < self._until


async def dispatch_tick(rt: JourneyRuntime) -> dict[str, int]:
    """Housekeeping (expiry, held requeue, dead claims), then send what is due, for one time slice."""
    counts = await rt.dispatcher.housekeeping()
    budget = Budget(SLICE_SECONDS)
    sent: dict[str, int] = {}
    while True:
        report = await rt.dispatcher.drain(max_batches=1)
        for name, value in report.as_dict().items():
            sent[name] = sent.get(name, 0) + value
        if not report.claimed or not budget.left():
            break
    count_pushes(sent)
    return {**counts, **{f"drain_{name}": value for name, value in sent.items()}}


async def process_domain_events(rt: JourneyRuntime) -> dict[str, int]:
    """Move runs whose wait is over, then enrol, end runs on goals, cancel on opt-outs; one time slice.

    Due runs come first and have a share of the slice to themselves: a backlog of events an import left
    must not hold back the steps followers are already waiting for.
    """
    budget, runs_budget = Budget(SLICE_SECONDS), Budget(SLICE_SECONDS / 2)
    moved = 0
    while True:  # at least one transaction of each per tick, whatever the budget
        advanced = await rt.enrolment.advance_due_runs(DUE_RUNS_PER_TRANSACTION)
        moved += advanced
        if advanced < DUE_RUNS_PER_TRANSACTION or not runs_budget.left():
            break
    total: dict[str, int] = {}
    while True:
        report = await rt.enrolment.process_events(EVENTS_PER_TRANSACTION)
        for name, value in vars(report).items():
            total[name] = total.get(name, 0) + value
        if report.events < EVENTS_PER_TRANSACTION or not budget.left():
            break
    return {**total, "runs_advanced": moved}


async def _emit(rt: JourneyRuntime, events: list[NewEvent]) -> int:
    """Insert scan events; a dedup_key already present means this scan already emitted it."""
    created = 0
    for event in events:
        created += await insert_event_once(rt.services.db, event)
    return created


async def scan_no_purchase(rt: JourneyRuntime) -> int:
    """Emit `no_purchase` for followers with no order for N days (per journey with that trigger)."""
    now = rt.services.clock.now()
    events: list[NewEvent] = []
    async with rt.services.db.session() as session:
        journeys = [j for j in await enabled_journeys(session) if j.definition.trigger.kind == "no_purchase"]
        for journey in journeys:
            cutoff = now - timedelta(days=int(journey.definition.trigger.days or 0))
            for follower_id, subscribed_at, last_order_at in await subscribed_since_with_last_order(session, cutoff):
                anchor = last_order_at or subscribed_at
                if anchor is None or anchor > cutoff:
                    continue
                events.append(
                    NewEvent(
                        kind=NO_PURCHASE, occurred_at=now, follower_id=follower_id,
                        payload={"journey_id": journey.id, "days": journey.definition.trigger.days},
                        dedup_key=f"no_purchase:{journey.id}:{follower_id}:{anchor.isoformat()}",
                    )
                )  # fmt: skip
    return await _emit(rt, events)


async def scan_segments(rt: JourneyRuntime) -> int:
    """Emit `segment_entered` for followers already in a journey's segment but never enrolled in it.

    Imports emit the event when a profile changes segment; this catches journeys created afterwards. A
    journey whose segment is `saved:<name>` (a segment saved from the console's profile list) has no such
    event at all: this scan is how its audience enters it.
    """
    now = rt.services.clock.now()
    events: list[NewEvent] = []
    async with rt.services.db.session() as session:
        journeys = [j for j in await enabled_journeys(session) if j.definition.trigger.kind == "segment_entered"]
        for journey in journeys:
            segment = str(journey.definition.trigger.segment)
            assert journey.id is not None
            rows = await unenrolled_followers(session, journey_id=journey.id, segment=segment, now=now)
            events += [
                NewEvent(
                    kind="segment_entered", occurred_at=now, follower_id=fid, profile_id=pid,
                    payload={"segment": segment, "source": "scan"},
                    dedup_key=f"segment_scan:{journey.id}:{fid}:{segment}"[:255],
                )
                for fid, pid in rows
            ]  # fmt: skip
    return await _emit(rt, events)


async def refresh_tokens(rt: JourneyRuntime) -> dict[str, str]:
    """Refresh every account's shared access token ahead of its expiry (the client decides when)."""
    return await rt.api.tokens.refresh_tokens()


async def run_mass_sends(rt: JourneyRuntime) -> dict[str, int]:
    report = await rt.mass_sender.run_due()
    return vars(report)


async def nightly_aggregates(rt: JourneyRuntime) -> dict[str, Any]:
    """Keep yesterday's per-journey figures in the audit log (the report's history),"""
    now = rt.services.clock.now()
    async with rt.services.db.session() as session:
        rows = await journey_report(session)
        session.add(
            AuditEntry(
                at=now, actor="scheduler", action="journeys.daily_report",
                target=start_of_china_day(now).date().isoformat(), detail={"journeys": rows},
            )
        )  # fmt: skip
        await session.commit()
    return {"journeys": len(rows)}


async def purge_callbacks(rt: JourneyRuntime) -> dict[str, int]:
    """Housekeeping of the callback de-duplication ledger: stale rows abandoned, old rows deleted."""
    # The ledger keeps wall time (gateway.callback), whatever a demo clock does.
    abandoned, deleted = await purge_deliveries(rt.services.db, real_clock(rt.services.clock).now())
    return {"abandoned": abandoned, "deleted": deleted}


async def learn_unionids(rt: JourneyRuntime) -> dict[str, int]:
    """Fetch the unionids callbacks never carry, and link followers the brand already knows."""
    if rt.unionid_fetcher is None:
        rt.unionid_fetcher = UnionidFetcher(rt.services.db, rt.api, rt.services.clock)
    return await rt.unionid_fetcher.run()


Job = Callable[[JourneyRuntime], Awaitable[Any]]


@dataclass(frozen=True)
class JobSpec:
    """A job and when it runs: every `seconds`, or daily at `hour:minute` China time."""

    function: Job
    seconds: int | None = None
    hour: int | None = None
    minute: int = 0


JOBS: dict[str, JobSpec] = {
    "dispatch_tick": JobSpec(dispatch_tick, seconds=5),
    "process_domain_events": JobSpec(process_domain_events, seconds=5),
    "scan_no_purchase": JobSpec(scan_no_purchase, seconds=3600),
    "scan_segments": JobSpec(scan_segments, seconds=900),
    "refresh_tokens": JobSpec(refresh_tokens, seconds=300),
    "run_mass_sends": JobSpec(run_mass_sends, seconds=60),
    "nightly_aggregates": JobSpec(nightly_aggregates, hour=3, minute=15),
    "purge_callbacks": JobSpec(purge_callbacks, seconds=600),
    "learn_unionids": JobSpec(learn_unionids, seconds=300),
}
