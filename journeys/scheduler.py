"""APScheduler in the serving process, with its job store in the application database, on the leader only.

Every process runs a small election loop (journeys.leader). The process holding the lease starts an
AsyncIOScheduler whose jobs (journeys.jobs.JOBS) live in the `apscheduler_jobs` table; when it loses
the lease (a stall longer than the lease) it shuts its scheduler down, and a follower whose attempt
succeeds starts its own. Jobs are stored by reference (`journeys.scheduler:run_job` + the job name) and
find this process's runtime through `_RUNTIME`, since live objects cannot be pickled into the store.

    handle = await start_scheduler(services)   # in `scrm serve` / `scrm demo`
    ...
    await handle.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from handlers.context import Services
from journeys.jobs import JOBS
from journeys.leader import LeaderLease
from journeys.runtime import JourneyRuntime, build_runtime
from scrm.clock import CHINA

log = logging.getLogger(__name__)
_RUNTIME: dict[str, JourneyRuntime] = {}


def sync_database_url(url: str) -> str:
    """The synchronous URL of the application database, for APScheduler's SQLAlchemyJobStore."""
    if url.startswith("sqlite+aiosqlite://"):
        return "sqlite://" + url[len("sqlite+aiosqlite://") :]
    if url.startswith("postgresql+asyncpg://"):
        return "postgresql+psycopg://" + url[len("postgresql+asyncpg://") :]
    raise ValueError(f"no synchronous driver known for {url.split('://')[0]}")


async def run_job(name: str) -> None:
    """What the job store points at: run job `name` of this process's runtime, logging its failure."""
    runtime = _RUNTIME.get("current")
    if runtime is None:
        log.warning("job %s fired but no journeys runtime is active in this process", name)
        return
    try:
        outcome = await JOBS[name].function(runtime)
    except Exception:
        log.exception("scheduled job %s failed; it runs again at its next time", name)
        return
    log.debug("job %s: %s", name, outcome)


def build_scheduler(database_url: str) -> AsyncIOScheduler:
    """A scheduler whose job store is the application database, with every job of JOBS registered."""
    scheduler = AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=sync_database_url(database_url), tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone=CHINA,
    )
    for name, spec in JOBS.items():
        trigger: Any
        if spec.seconds is not None:
            trigger = IntervalTrigger(seconds=spec.seconds, timezone=CHINA)
        else:
            trigger = CronTrigger(hour=spec.hour, minute=spec.minute, timezone=CHINA)
        scheduler.add_job(run_job, trigger, args=[name], id=name, name=name, replace_existing=True)
    return scheduler


@dataclass
class SchedulerHandle:
    """The election loop and, while leader, the running scheduler of one process."""

    services: Services
    runtime: JourneyRuntime
    lease: LeaderLease
    scheduler: AsyncIOScheduler | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def is_leader(self) -> bool:
        return self.scheduler is not None

    async def elect_once(self) -> bool:
        """One round of the election: start or stop the scheduler to match the lease; True if leader."""
        try:
            leading = await self.lease.try_acquire()
        except Exception:
            log.exception("the scheduler lease could not be checked; acting as a follower")
            leading = False
        if leading and self.scheduler is None:
            scheduler = build_scheduler(self.services.settings.database_url)
            scheduler.start()
            self.scheduler = scheduler
            log.info("this process (%s) is the scheduler leader", self.lease.holder)
        elif not leading and self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
            log.warning("this process (%s) lost the scheduler lease; scheduler stopped", self.lease.holder)
        return leading

    async def _elect_forever(self) -> None:
        while not self._stopping.is_set():
            await self.elect_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.lease.heartbeat.total_seconds())

    def start(self) -> None:
        _RUNTIME["current"] = self.runtime
        self._task = asyncio.create_task(self._elect_forever(), name="scheduler-election")

    async def stop(self) -> None:
        """Stop electing, shut the scheduler down, and hand the lease over at once."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
            await self.lease.release()
        if _RUNTIME.get("current") is self.runtime:
            del _RUNTIME["current"]
        await self.runtime.close()


async def start_scheduler(services: Services, runtime: JourneyRuntime | None = None) -> SchedulerHandle:
    """Wire journeys into `services` (wake hook included) and start electing a scheduler leader."""
    handle = SchedulerHandle(services, runtime or build_runtime(services), LeaderLease(services.db, services.clock))
    handle.start()
    return handle
