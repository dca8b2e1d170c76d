"""APScheduler in the serving process, on the scheduler leader only, with its jobs kept in memory.

The recurring jobs (journeys.jobs.JOBS) are the same in every process, and the durable state they work
on is the push outbox and the journey runs. So the scheduler keeps its jobs in APScheduler's memory job
store: nothing is written on every run, nothing synchronous touches the database from the event loop,
and a bulk import holding the SQLite file cannot fail the scheduler itself.

Every process runs a small election loop (journeys.leader). The process holding the lease starts the
scheduler; when it loses the lease it stops it. Each run goes through `JobRunner.run`, which never lets
an exception reach APScheduler: a failing run logs its cause and the job runs again at its next time.
The runner remembers how each job last ran (`JobHealth`). A job with no run finished within twice its
interval is stalled: `/readyz` answers 503 and the dashboard shows it. The election loop checks every
heartbeat, and a leader with a job stuck for a minute cancels the stuck run and gives up the lease for
one lease period, so another process, or this one afresh, takes over.
`/readyz`, `/metrics` and the console's dashboard read the same record.

    handle = await start_scheduler(services)   # in `scrm serve` / `scrm demo`
    ...
    await handle.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from base.clock import CHINA, real_clock
from base.metrics import JobStatus, SchedulerStatus, metrics
from handlers.context import Services
from journeys.jobs import JOBS, JobSpec
from journeys.leader import LeaderLease
from journeys.runtime import JourneyRuntime, build_runtime

log = logging.getLogger(__name__)

# A job is stalled (/readyz says so, the dashboard shows it) when no run finished for this many of its
# intervals. The leader gives its lease up only when one is stuck for STAND_DOWN_SECONDS: a run may
# legitimately wait some seconds for SQLite's writer behind a big import, and cancelling it then would
# only start the same work again elsewhere.
STALL_INTERVALS = 2
STAND_DOWN_SECONDS = 60.0


@dataclass
class JobHealth:
    """How one job has been running in this process (monotonic seconds)."""

    name: str
    interval: float | None
    runs: int = 0
    failures: int = 0
    failures_in_a_row: int = 0
    last_started: float | None = None
    last_finished: float | None = None
    last_error: str = ""
    running: asyncio.Task[Any] | None = field(default=None, repr=False)

    def seconds_since_tick(self, now: float, since: float) -> float:
        """Seconds since a run last finished (or since `since`, when none has yet)."""
        return now - (self.last_finished if self.last_finished is not None else since)

    def failed(self, reason: str) -> None:
        self.failures += 1
        self.failures_in_a_row += 1
        self.last_error = reason
        metrics().scheduler_failures.labels(self.name).inc()

    def stalled(self, now: float, since: float, *, at_least: float = 0.0) -> bool:
        """No run finished within twice the interval (and at least `at_least` seconds)."""
        if self.interval is None:
            return False  # daily jobs: a missed night is logged, not a stall of the engine
        return self.seconds_since_tick(now, since) > max(STALL_INTERVALS * self.interval, at_least)


class JobRunner:
    """Runs the jobs of one runtime, records each run, and never lets a failure escape."""

    def __init__(
        self,
        runtime: JourneyRuntime,
        jobs: dict[str, JobSpec] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.jobs = jobs if jobs is not None else JOBS
        self.monotonic = monotonic
        self.health = {
            name: JobHealth(name, float(spec.seconds) if spec.seconds else None) for name, spec in self.jobs.items()
        }
        self.started_at = monotonic()

    async def run(self, name: str) -> None:
        """One run of job `name`; its outcome is logged and recorded, never raised."""
        health = self.health[name]
        health.last_started = self.monotonic()
        health.running = asyncio.current_task()
        try:
            outcome = await self.jobs[name].function(self.runtime)
        except asyncio.CancelledError:
            health.failed("cancelled (stalled)")
            raise
        except Exception as error:  # noqa: BLE001 - every failure is logged and the job runs again
            health.failed(f"{type(error).__name__}: {error}"[:300])
            log.error(
                "scheduled job %s failed (%d in a row); it runs again at its next time: %s",
                name,
                health.failures_in_a_row,
                health.last_error,
                exc_info=error,
            )
        else:
            health.failures_in_a_row = 0
            log.debug("job %s: %s", name, outcome)
        finally:
            health.runs += 1
            health.last_finished = self.monotonic()
            health.running = None
            metrics().scheduler_since_tick.labels(name).set(0)

    def stalled(self, at_least: float = 0.0) -> list[JobHealth]:
        now = self.monotonic()
        return [h for h in self.health.values() if h.stalled(now, self.started_at, at_least=at_least)]

    def publish(self) -> None:
        """Set the scheduler's gauges from this runner's record (the leader, every heartbeat)."""
        now, gauge = self.monotonic(), metrics().scheduler_since_tick
        for health in self.health.values():
            gauge.labels(health.name).set(round(health.seconds_since_tick(now, self.started_at), 1))

    def cancel_running(self) -> None:
        for health in self.health.values():
            if health.running is not None:
                health.running.cancel()


def build_scheduler(runner: JobRunner) -> AsyncIOScheduler:
    """A scheduler with every job of the runner registered, kept in memory."""
    scheduler = AsyncIOScheduler(
        jobstores={"default": MemoryJobStore()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone=CHINA,
    )
    for name, spec in runner.jobs.items():
        trigger: Any
        if spec.seconds is not None:
            trigger = IntervalTrigger(seconds=spec.seconds, timezone=CHINA)
        else:
            trigger = CronTrigger(hour=spec.hour, minute=spec.minute, timezone=CHINA)
        scheduler.add_job(runner.run, trigger, args=[name], id=name, name=name, replace_existing=True)
    return scheduler


@dataclass
class SchedulerHandle:
    """The election loop and, while leader, the running scheduler of one process."""

    services: Services
    runtime: JourneyRuntime
    lease: LeaderLease
    scheduler: AsyncIOScheduler | None = None
    runner: JobRunner | None = None
    monotonic: Callable[[], float] = time.monotonic
    # Until when (monotonic) this process stays out of the election after giving the lease up.
    standing_down_until: float = 0.0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def is_leader(self) -> bool:
        return self.scheduler is not None

    def stalled_jobs(self, at_least: float = 0.0) -> list[JobHealth]:
        """The jobs of this leader that have not ticked within twice their interval (and at least
        `at_least` seconds); none when this process is a follower."""
        if self.runner is None or self.scheduler is None:
            return []
        return self.runner.stalled(at_least)

    async def readiness(self) -> str | None:
        """For /readyz: why this process, as the leader, is not doing its work (None when it is)."""
        if self.monotonic() < self.standing_down_until:
            return "gave up the scheduler lease after its jobs stopped ticking; rejoining the election shortly"
        stalled = self.stalled_jobs()
        if not stalled:
            return None
        return "scheduled jobs not ticking: " + ", ".join(
            f"{h.name} (interval {h.interval:.0f} s, last error: {h.last_error or 'none'})" for h in stalled
        )

    def status(self) -> SchedulerStatus:
        """For the console's dashboard."""
        jobs: tuple[JobStatus, ...] = ()
        if self.runner is not None and self.is_leader:
            now, since = self.monotonic(), self.runner.started_at
            jobs = tuple(
                JobStatus(
                    h.name, h.interval, round(h.seconds_since_tick(now, since), 1), h.runs, h.failures,
                    h.last_error, h.stalled(now, since),
                )
                for h in self.runner.health.values()
            )  # fmt: skip
        standing_down = self.monotonic() < self.standing_down_until
        return SchedulerStatus(self.is_leader, self.lease.holder, standing_down, jobs)

    async def publish(self) -> None:
        """For /metrics: whether this process leads, and (leader) how long since each job ticked."""
        metrics().scheduler_leader.set(1 if self.is_leader else 0)
        if self.runner is not None and self.is_leader:
            self.runner.publish()

    async def elect_once(self) -> bool:
        """One round of the election: start or stop the scheduler to match the lease; True if leader."""
        if self.scheduler is not None and (stuck := self.stalled_jobs(at_least=STAND_DOWN_SECONDS)):
            await self._stand_down(stuck)
            return False
        if self.monotonic() < self.standing_down_until:
            return False
        try:
            leading = await self.lease.try_acquire()
        except Exception as error:  # noqa: BLE001 - a database hiccup costs one round, never the loop
            log.error("the scheduler lease could not be checked; acting as a follower this round: %r", error)
            leading = False
        if leading and self.scheduler is None:
            self.runner = JobRunner(self.runtime, monotonic=self.monotonic)
            self.scheduler = build_scheduler(self.runner)
            self.scheduler.start()
            log.info("this process (%s) is the scheduler leader", self.lease.holder)
        elif not leading and self.scheduler is not None:
            self._stop_scheduler()
            log.warning("this process (%s) lost the scheduler lease; scheduler stopped", self.lease.holder)
        await self.publish()
        return leading

    async def _stand_down(self, stalled: list[JobHealth]) -> None:
        """Jobs stopped ticking: stop them and hand the lease to whichever process takes it first."""
        now = self.monotonic()
        assert self.runner is not None
        for health in stalled:
            log.error(
                "scheduled job %s has not ticked for %.0f s (interval %.0f s, last error: %s); giving up the lease",
                health.name,
                health.seconds_since_tick(now, self.runner.started_at),
                health.interval or 0,
                health.last_error or "none",
            )
        self._stop_scheduler()
        await self.publish()
        self.standing_down_until = now + self.lease.ttl.total_seconds()
        try:
            await self.lease.release()
        except Exception as error:  # noqa: BLE001 - the lease then simply expires
            log.error("the scheduler lease could not be released; it expires by itself: %r", error)

    def _stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        if self.runner is not None:
            self.runner.cancel_running()

    async def _elect_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.elect_once()
            except Exception:  # the loop is what keeps the engine alive: it must outlive any bug
                log.exception("scheduler election round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.lease.heartbeat.total_seconds())

    def start(self) -> None:
        self._task = asyncio.create_task(self._elect_forever(), name="scheduler-election")

    async def stop(self) -> None:
        """Stop electing, shut the scheduler down, and hand the lease over at once."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        if self.scheduler is not None:
            self._stop_scheduler()
            with contextlib.suppress(Exception):
                await self.lease.release()
        await self.runtime.close()


async def start_scheduler(services: Services, runtime: JourneyRuntime | None = None) -> SchedulerHandle:
    """Wire journeys into `services` (wake hook included) and start electing a scheduler leader."""
    # The lease is between processes, so it runs on the wall clock even when a demo clock is sped up.
    lease = LeaderLease(services.db, real_clock(services.clock))
    handle = SchedulerHandle(services, runtime or build_runtime(services), lease)
    services.probes.readiness.append(handle.readiness)
    services.probes.refreshers.append(handle.publish)
    services.probes.scheduler = handle.status
    handle.start()
    return handle
