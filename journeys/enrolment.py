"""Domain events drive journeys: enrol on triggers, end runs on goals, cancel pushes on opt-outs.

Each batch of events is claimed and processed in ONE transaction: the claim (`processed_at` set by a
conditional UPDATE; SKIP LOCKED on PostgreSQL) commits together with the runs and pushes it created, so
an event is processed exactly once even when several processes run this job or one dies mid-batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from sqlmodel import select as model_select
from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import Clock
from journeys.attribution import mark_refunded
from journeys.catalogue import LiveJourney, PublishedTemplates, enabled_journeys, journeys_by_id
from journeys.event_batch import ORDER_EVENTS, EventBatch
from journeys.policy import DispatchPolicy
from journeys.runner import advance_run
from storage.db import Database
from storage.journey_runs import followers_by_ids, profiles_by_ids
from storage.models.core import DomainEvent, Follower
from storage.models.identity import FollowerLink
from storage.models.pushes import JourneyRun
from storage.pushes import cancel_open_pushes, picked_once

log = logging.getLogger(__name__)
EVENTS = cast(Table, DomainEvent.__table__)  # type: ignore[attr-defined]
FOLLOWERS = cast(Table, Follower.__table__)  # type: ignore[attr-defined]
LINKS = cast(Table, FollowerLink.__table__)  # type: ignore[attr-defined]
# A purchase older than this when its event is processed starts no journey: importing a shop's order
# history must not thank every buyer for last year's order. (Goals count only what happened after a
# run began, and attribution only orders after a push.)
ORDER_ENROLS_WITHIN = timedelta(days=7)
# Scans emit this kind for one journey (payload "journey_id"); it enrols into that journey only.
NO_PURCHASE = "no_purchase"


@dataclass
class EnrolmentReport:
    events: int = 0
    enrolled: int = 0
    goals_reached: int = 0
    exited: int = 0
    cancelled_pushes: int = 0
    attributed: int = 0
    old_purchases: int = 0  # purchases too old to start a journey (see ORDER_ENROLS_WITHIN)
    passed_over: int = 0  # about a profile no follower was ever linked to (see _claim_events)


async def _claim_events(session: AsyncSession, now: datetime, limit: int) -> tuple[int, list[DomainEvent]]:
    """Mark up to `limit` waiting events processed; how many, and those that can concern anybody.

    Events about a follower (followed, bound, clicked...) are claimed before events about a profile
    alone: an import writes the latter by the hundred thousand, and a follower who binds a phone while
    that backlog drains must get the journey's first message now, not when the backlog is gone.

    An event about a profile no follower is or ever was linked to enrols nobody, ends no run and credits
    no push (pushes only ever went to followers): an import of a shop's history writes many of those, and
    they are passed over here in bulk instead of one by one.
    """
    conn = await session.connection()
    found = await _claim_waiting(conn, now, limit, followers_only=True)
    if len(found) < limit:
        found += await _claim_waiting(conn, now, limit - len(found), followers_only=False)
    profiles = {row.profile_id for row in found if row.follower_id is None and row.profile_id is not None}
    reachable = await _linked_profiles(conn, profiles)
    ids = sorted(row.id for row in found if row.follower_id is not None or row.profile_id in reachable)
    if not ids:
        return len(found), []
    rows = (await session.exec(model_select(DomainEvent).where(col(DomainEvent.id).in_(ids)))).all()
    return len(found), sorted(rows, key=lambda e: e.id or 0)


async def _claim_waiting(conn: AsyncConnection, now: datetime, limit: int, *, followers_only: bool) -> list[Any]:
    """Claim up to `limit` waiting events, oldest first (those about a follower only, if asked)."""
    waiting = select(EVENTS.c.id).where(EVENTS.c.processed_at.is_(None))
    if followers_only:
        waiting = waiting.where(EVENTS.c.follower_id.is_not(None))
    picked = picked_once(conn, waiting.order_by(EVENTS.c.id).limit(limit).with_for_update(skip_locked=True))
    claimed = await conn.execute(
        update(EVENTS)
        .where(EVENTS.c.id.in_(picked), EVENTS.c.processed_at.is_(None))
        .values(processed_at=now)
        .returning(EVENTS.c.id, EVENTS.c.follower_id, EVENTS.c.profile_id)
    )
    return list(claimed.all())


async def _linked_profiles(conn: AsyncConnection, profile_ids: set[int]) -> set[int]:
    """Which of these profiles a follower is, or once was, linked to."""
    if not profile_ids:
        return set()
    wanted = sorted(profile_ids)
    now_linked = select(FOLLOWERS.c.profile_id).where(FOLLOWERS.c.profile_id.in_(wanted))
    once_linked = select(LINKS.c.profile_id).where(LINKS.c.profile_id.in_(wanted))
    return set((await conn.execute(now_linked.union(once_linked))).scalars().all())


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
            claimed, events = await _claim_events(session, now, limit)
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
            and journey.definition.goal.matches_event(kind, payload)
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
            statement = (
                model_select(JourneyRun)
                .where(JourneyRun.state == "active", col(JourneyRun.resume_at) <= now)
                .order_by(col(JourneyRun.resume_at))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            runs = list((await session.exec(statement)).all())
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
