"""Domain events drive journeys: enrol on triggers, end runs on goals, cancel pushes on opt-outs.

Each batch of events is claimed and processed in ONE transaction: the claim (`processed_at` set by a
conditional UPDATE; SKIP LOCKED on PostgreSQL) commits together with the runs and pushes it created, so
an event is processed exactly once even when several processes run this job or one dies mid-batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import Clock
from content.model import BranchStep
from journeys.attribution import mark_refunded
from journeys.catalogue import LiveJourney, PublishedTemplates, enabled_journeys, journeys_by_id
from journeys.event_batch import ORDER_EVENTS, EventBatch
from journeys.policy import DispatchPolicy
from journeys.runner import advance_run
from storage.db import Database
from storage.event_claims import claim_events
from storage.journey_runs import due_runs, followers_by_ids, profiles_by_ids
from storage.models.core import DomainEvent, Follower
from storage.models.pushes import JourneyRun
from storage.pushes import cancel_open_pushes

log = logging.getLogger(__name__)
# A purchase older than this when its event is processed starts no journey: importing a shop's order
# history must not thank every buyer for last year's order. (Goals count only what happened after a
# run began, and attribution only orders after a push.)
ORDER_ENROLS_WITHIN = timedelta(days=7)
# Scans emit this kind for one journey (payload "journey_id"); it enrols into that journey only.
NO_PURCHASE = "no_purchase"
# A click on a journey's message: it may reach that journey's goal or decide a `clicked` branch of the
# run, and enrols nobody (no trigger listens to it); its event is marked processed like any other.
CLICKED = "link_clicked"


@dataclass
class EnrolmentReport:
    events: int = 0
    enrolled: int = 0
    goals_reached: int = 0
    exited: int = 0
    cancelled_pushes: int = 0
    attributed: int = 0
    old_purchases: int = 0  # purchases too old to start a journey (see ORDER_ENROLS_WITHIN)
    passed_over: int = 0  # about a profile no follower was ever linked to (see claim_events)
    clicks_woke: int = 0  # runs waiting at a `clicked` branch moved on by the click


class Enrolment:
    """Consumes domain events and moves runs forward; `policy` places planned pushes out of quiet hours."""

    def __init__(self, db: Database, clock: Clock, policy: DispatchPolicy, *, attribution_days: int = 7) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy
        self.attribution_days = attribution_days

    async def process_events(self, limit: int = 200) -> EnrolmentReport:
        """Process one batch of unprocessed domain events; returns what it did."""
        report = EnrolmentReport()
        now = self.clock.now()
        async with self.db.transaction() as session:
            claimed, events = await claim_events(session, now, limit)
            report.events = claimed
            report.passed_over = claimed - len(events)
            if not events:
                return report
            batch = await EventBatch.load(session, events, await enabled_journeys(session), self.attribution_days)
            for event in events:
                await self._handle(session, event, batch, now, report)
        return report

    async def drain_events(self, batch: int = 200) -> EnrolmentReport:
        """Process batches until no event is waiting."""
        total = EnrolmentReport()
        while True:
            report = await self.process_events(batch)
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            if report.events < batch:
                return total

    async def _handle(
        self,
        session: AsyncSession,
        event: DomainEvent,
        batch: EventBatch,
        now: datetime,
        report: EnrolmentReport,
    ) -> None:
        followers = batch.followers_of(event)
        follower_ids = [f.id for f in followers if f.id is not None]
        payload: dict[str, Any] = dict(event.payload or {})
        if event.kind in ("unfollowed", "consent_withdrawn"):
            await self._stop_follower(session, event.kind, batch, follower_ids, now, report)
            return
        credited = event.kind in ORDER_EVENTS and await batch.credits.credit(session, event, now)
        report.attributed += int(credited)
        if event.kind == "order_refunded":
            await mark_refunded(session, payload)
        await self._check_goals(session, event, payload, batch, follower_ids, now, report)
        if event.kind == CLICKED:
            report.clicks_woke += _wake_click_branches(session, batch, follower_ids, payload, now)
            return
        if event.kind in ORDER_EVENTS and event.occurred_at < now - ORDER_ENROLS_WITHIN:
            report.old_purchases += 1
            return
        for journey in batch.journeys:
            if event.kind == NO_PURCHASE:
                if payload.get("journey_id") != journey.id:
                    continue
            elif not journey.definition.trigger.matches_event(event.kind, payload):
                continue
            for follower in followers:
                if await self._enrol(session, journey, batch, follower, event, now):
                    report.enrolled += 1

    async def _stop_follower(
        self,
        session: AsyncSession,
        kind: str,
        batch: EventBatch,
        follower_ids: list[int],
        now: datetime,
        report: EnrolmentReport,
    ) -> None:
        # Unfollowing ends everything (WeChat delivers nothing to a non-follower); withdrawing consent
        # stops marketing only: service notices (order shipped...) still go.
        purposes = ("marketing", "service") if kind == "unfollowed" else ("marketing",)
        # The pushes earlier events of this batch planned are still in the session: the cancelling UPDATE
        # below goes around the ORM, so they must be in the database first.
        await session.flush()
        conn = await session.connection()
        for follower_id in follower_ids:
            cancelled = await cancel_open_pushes(conn, now=now, follower_id=follower_id, reason=kind, purposes=purposes)
            report.cancelled_pushes += len(cancelled)
        for run in batch.active_runs(follower_ids):
            run.state, run.end_reason, run.ended_at, run.resume_at = "exited", kind, now, None
            session.add(run)
            report.exited += 1

    async def _check_goals(
        self,
        session: AsyncSession,
        event: DomainEvent,
        payload: dict[str, Any],
        batch: EventBatch,
        follower_ids: list[int],
        now: datetime,
        report: EnrolmentReport,
    ) -> None:
        kind = event.kind
        # Only what happened after a run began reaches its goal (an imported old order does not).
        runs = [run for run in batch.active_runs(follower_ids) if run.entered_at <= event.occurred_at]
        reached = [
            run
            for run in runs
            if (journey := batch.definitions.get(run.journey_id)) is not None
            and journey.definition.goal is not None
            and journey.definition.goal.matches_event(kind, payload, run.journey_id)
        ]
        for run in reached:
            run.state, run.end_reason, run.ended_at, run.resume_at = "goal_reached", f"goal: {kind}", now, None
            run.step_id = ""
            session.add(run)
            report.goals_reached += 1
        if reached:
            await session.flush()  # as in _stop_follower: the UPDATE must see this batch's pushes
            conn = await session.connection()
            cancelled = await cancel_open_pushes(
                conn, now=now, run_ids=[r.id for r in reached if r.id is not None], reason="journey goal reached"
            )
            report.cancelled_pushes += len(cancelled)

    async def _enrol(
        self,
        session: AsyncSession,
        journey: LiveJourney,
        batch: EventBatch,
        follower: Follower,
        event: DomainEvent,
        now: datetime,
    ) -> bool:
        if follower.id is None or follower.status != "subscribed":
            return False
        previous = batch.latest_run(journey.id, follower.id)
        if previous is not None:
            if previous.state == "active":
                return False
            if not journey.definition.reentry.allows(previous.ended_at or previous.entered_at, now):
                return False
        run = JourneyRun(
            journey_id=journey.id, journey_name=journey.name, journey_version=journey.version,
            follower_id=follower.id, profile_id=follower.profile_id, trigger_event_id=event.id,
            context={"event": event.kind, **dict(event.payload or {})}, entered_at=now,
        )  # fmt: skip
        session.add(run)
        batch.started(run)
        await advance_run(session, run, journey, now, self.policy, batch.templates)
        session.add(run)
        return True

    async def advance_due_runs(self, limit: int = 500) -> int:
        """Continue runs whose wait is over; returns how many moved."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            runs = await due_runs(session, now, limit)
            definitions = await journeys_by_id(session, {run.journey_id for run in runs})
            # Into the session in two statements, where each run's steps would read them one by one (held
            # here: the session's identity map keeps only objects someone refers to).
            followers = await followers_by_ids(session, {run.follower_id for run in runs})
            linked = {f.profile_id for f in followers if f.profile_id is not None}
            profiles = await profiles_by_ids(session, linked)  # noqa: F841 - held, see above
            templates = PublishedTemplates()
            for run in runs:
                journey = definitions.get(run.journey_id)
                if journey is None:
                    run.state, run.end_reason, run.ended_at, run.resume_at = "exited", "journey deleted", now, None
                else:
                    # Continue from the planned moment, not from when this job happened to run.
                    await advance_run(session, run, journey, run.resume_at or now, self.policy, templates)
                session.add(run)
        return len(runs)


def _wake_click_branches(
    session: AsyncSession, batch: EventBatch, follower_ids: list[int], payload: dict[str, Any], now: datetime
) -> int:
    """Runs of the clicked message's journey that wait at a `clicked` branch on its step move on now,
    instead of when the window closes (the runner then reads the click and takes `then`)."""
    woke = 0
    for run in batch.active_runs(follower_ids):
        journey = batch.definitions.get(run.journey_id)
        if (
            journey is None
            or run.journey_id != payload.get("journey_id")
            or not journey.definition.has_step(run.step_id)
        ):
            continue
        step = journey.definition.step(run.step_id)
        if (
            not isinstance(step, BranchStep)
            or step.condition.kind != "clicked"
            or step.condition.step != payload.get("step")
        ):
            continue
        if run.resume_at is None or run.resume_at > now:
            run.resume_at = now
            session.add(run)
            woke += 1
    return woke
