"""Scheduler leadership: one leader at a time, a follower takes over when the leader dies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from base.clock import FakeClock
from base.settings import Settings
from handlers.context import Services
from journeys.jobs import JOBS, JobSpec
from journeys.leader import LeaderLease
from journeys.runtime import build_runtime
from journeys.scheduler import JobRunner, SchedulerHandle, build_scheduler
from storage.db import Database

pytestmark = pytest.mark.concurrency


async def test_only_one_process_holds_the_lease_and_a_follower_takes_over_when_it_dies(
    db: Database, clock: FakeClock
) -> None:
    leader = LeaderLease(db, clock, holder="proc-a", ttl=timedelta(seconds=30))
    follower = LeaderLease(db, clock, holder="proc-b", ttl=timedelta(seconds=30))
    assert await leader.try_acquire()
    assert not await follower.try_acquire()
    clock.advance(seconds=10)
    assert await leader.try_acquire()  # heartbeat renews
    clock.advance(seconds=29)
    assert not await follower.try_acquire()
    # The leader is killed: no more heartbeats. Within the lease (30 s) the follower takes over.
    clock.advance(seconds=2)
    assert await follower.try_acquire()
    assert not await leader.try_acquire()  # the old leader, if it comes back, is a follower now


async def test_a_clean_shutdown_hands_the_lease_over_at_once(db: Database, clock: FakeClock) -> None:
    leader = LeaderLease(db, clock, holder="proc-a")
    follower = LeaderLease(db, clock, holder="proc-b")
    assert await leader.try_acquire()
    await leader.release()
    assert await follower.try_acquire()


async def test_two_processes_elect_one_scheduler_with_every_job_in_memory(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    handles = []
    for name in ("proc-a", "proc-b"):
        services = Services(db=db, settings=settings, clock=clock)
        handle = SchedulerHandle(services, build_runtime(services), LeaderLease(db, clock, holder=name))
        handles.append(handle)
    first, second = handles
    try:
        assert await first.elect_once()
        assert not await second.elect_once()
        assert first.is_leader and not second.is_leader
        assert first.scheduler is not None
        assert {job.id for job in first.scheduler.get_jobs()} == set(JOBS)
        # Nothing of the scheduler's own is written to the application database.
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert "apscheduler_jobs" not in tables
        clock.advance(seconds=31)  # the first process stalls past its lease
        assert await second.elect_once()
        assert not await first.elect_once()
        assert second.is_leader and not first.is_leader
    finally:
        for handle in handles:
            await handle.stop()


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _runtime_with(db: Database, clock: FakeClock, settings: Settings) -> Any:
    return build_runtime(Services(db=db, settings=settings, clock=clock))


async def test_a_failing_job_logs_its_cause_every_time_and_runs_again(
    db: Database, clock: FakeClock, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    async def flaky(_rt: Any) -> None:
        calls.append(len(calls))
        if len(calls) < 3:
            raise OperationalError("UPDATE pushes", {}, Exception("database is locked"))

    runtime = _runtime_with(db, clock, settings)
    runner = JobRunner(runtime, {"flaky": JobSpec(flaky, seconds=5)})
    try:
        for _ in range(3):
            await runner.run("flaky")
    finally:
        await runtime.close()
    health = runner.health["flaky"]
    assert calls == [0, 1, 2]
    assert (health.runs, health.failures, health.failures_in_a_row) == (3, 2, 0)
    failures = [r for r in caplog.records if "scheduled job flaky failed" in r.getMessage()]
    assert len(failures) == 2 and all("database is locked" in r.getMessage() for r in failures)


async def test_a_leader_whose_jobs_stop_ticking_gives_up_its_lease(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    ticks = FakeMonotonic()
    services = Services(db=db, settings=settings, clock=clock)
    stuck = SchedulerHandle(services, build_runtime(services), LeaderLease(db, clock, holder="proc-a"), monotonic=ticks)
    other_services = Services(db=db, settings=settings, clock=clock)
    other = SchedulerHandle(
        other_services, build_runtime(other_services), LeaderLease(db, clock, holder="proc-b"), monotonic=ticks
    )
    try:
        assert await stuck.elect_once()
        assert stuck.runner is not None
        for name in JOBS:  # every job ran once, just now
            stuck.runner.health[name].last_finished = ticks.now
        ticks.now += 9
        assert stuck.stalled_jobs() == [] and await stuck.readiness() is None
        assert await stuck.elect_once()
        # dispatch_tick (every 5 s) has not finished a run for 11 s: stalled, and /readyz says so; a run
        # may be waiting behind an import, so the leader keeps its lease for now.
        ticks.now += 2
        assert "dispatch_tick" in {h.name for h in stuck.stalled_jobs()}
        assert "dispatch_tick" in (await stuck.readiness() or "")
        assert await stuck.elect_once()
        # A minute without a tick: stuck. The leader cancels the run and gives the lease up.
        ticks.now += 50
        assert not await stuck.elect_once()
        assert not stuck.is_leader
        # The lease was handed over at once, and the stuck process stays out for a lease period.
        assert await other.elect_once()
        ticks.now += 31
        assert not await stuck.elect_once()
    finally:
        await stuck.stop()
        await other.stop()


async def test_every_job_is_registered_with_a_trigger(db: Database, clock: FakeClock, settings: Settings) -> None:
    runtime = _runtime_with(db, clock, settings)
    try:
        scheduler = build_scheduler(JobRunner(runtime))
        assert {job.id for job in scheduler.get_jobs()} == set(JOBS)
    finally:
        await runtime.close()
