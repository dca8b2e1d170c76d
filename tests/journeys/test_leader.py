"""Scheduler leadership: one leader at a time, a follower takes over when the leader dies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from handlers.context import Services
from journeys.jobs import JOBS
from journeys.leader import LeaderLease
from journeys.runtime import build_runtime
from journeys.scheduler import SchedulerHandle, build_scheduler, sync_database_url
from scrm.clock import FakeClock
from scrm.settings import Settings
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


async def test_two_processes_elect_one_scheduler_with_jobs_stored_in_the_database(
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
        async with db.engine.connect() as conn:
            stored = set((await conn.execute(text("SELECT id FROM apscheduler_jobs"))).scalars().all())
        assert stored == set(JOBS)
        clock.advance(seconds=31)  # the first process stalls past its lease
        assert await second.elect_once()
        assert not await first.elect_once()
        assert second.is_leader and not first.is_leader
    finally:
        for handle in handles:
            await handle.stop()


def test_the_job_store_gets_a_synchronous_url() -> None:
    assert sync_database_url("sqlite+aiosqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert sync_database_url("postgresql+asyncpg://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(ValueError, match="no synchronous driver"):
        sync_database_url("mysql+aiomysql://u@h/db")


async def test_every_job_is_registered_with_a_trigger(settings: Settings) -> None:
    scheduler = build_scheduler(settings.database_url)
    assert {job.id for job in scheduler.get_jobs()} == set(JOBS)
