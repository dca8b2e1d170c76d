"""Prometheus metrics of the product, served at `GET /metrics` (prometheus-client).

What is counted where it happens (callbacks, pushes) is a counter or histogram of this process. What is
a state of the whole deployment (the outbox and event backlogs, import progress, the scheduler) is a
gauge set when it changes or just before a scrape (`Metrics.refresh`).

With `scrm serve --workers N` a scrape reaches any one of the N processes, so the parent points
`PROMETHEUS_MULTIPROC_DIR` at a fresh directory before forking (`prepare_multiprocess`) and every child
writes its values there; `/metrics` then adds the live processes' values up (prometheus-client's
multiprocess mode). prometheus-client reads that variable when it is first imported, so this module
imports it only inside functions: the parent never does, and each child imports it after the fork.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A callback's whole time in the server: parse, claim, handler, reply. WeChat's limit is 5 s.
CALLBACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 5.0)


class Metrics:
    """Every metric of the product, created once per process (`metrics()`)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.callbacks = Counter(
            "scrm_callbacks", "WeChat callbacks answered, by outcome (inline, success, late, duplicate, rejected)",
            ["outcome"],
        )  # fmt: skip
        self.callback_seconds = Histogram(
            "scrm_callback_seconds", "Seconds from a callback's arrival to its answer", buckets=CALLBACK_BUCKETS
        )
        self.pushes = Counter("scrm_pushes", "Pushes the dispatcher decided, by outcome", ["outcome"])
        # Deployment-wide states: the value most recently read by any process.
        self.outbox_backlog = Gauge(
            "scrm_outbox_backlog", "Pushes waiting in the outbox, by status (due, held, scheduled)", ["status"],
            multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.events_backlog = Gauge(
            "scrm_domain_events_backlog", "Domain events not yet processed by the journeys",
            multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.import_rows = Gauge(
            "scrm_import_rows_processed", "Rows handled so far by the order imports running in this process",
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.imports_running = Gauge("scrm_imports_running", "Order imports running now", multiprocess_mode="livesum")
        self.scheduler_leader = Gauge(
            "scrm_scheduler_leader", "1 in the process that runs the scheduled jobs", multiprocess_mode="livesum"
        )
        self.scheduler_since_tick = Gauge(
            "scrm_scheduler_seconds_since_tick",
            "Seconds since each job last finished a run (set by the leader at every run and heartbeat)",
            ["job"],
            multiprocess_mode="livemax",
        )
        self.scheduler_failures = Counter("scrm_scheduler_job_failures", "Runs of a scheduled job that failed", ["job"])


@cache
def metrics() -> Metrics:
    """This process's metrics."""
    return Metrics()


def count_pushes(report: dict[str, int]) -> None:
    """Add a dispatcher report's outcomes (its `as_dict()`) to the push counter."""
    counter = metrics().pushes
    for outcome, count in report.items():
        if outcome != "claimed" and count:
            counter.labels(outcome).inc(count)


def set_outbox_backlog(by_status: Iterable[tuple[str, int]]) -> None:
    gauge = metrics().outbox_backlog
    for status, count in by_status:
        gauge.labels(status).set(count)


# A readiness check answers None when ready, or why not; a refresher sets gauges just before a scrape.
ReadinessCheck = Callable[[], Awaitable[str | None]]
Refresher = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class JobStatus:
    """One scheduled job as the leader sees it, for the console's dashboard."""

    name: str
    interval_seconds: float | None
    seconds_since_tick: float
    runs: int
    failures: int
    last_error: str
    stalled: bool


@dataclass(frozen=True)
class SchedulerStatus:
    """This process's part in the scheduler: whether it leads, and (leader) how each job runs."""

    leader: bool
    holder: str
    standing_down: bool
    jobs: tuple[JobStatus, ...] = ()


@dataclass
class Probes:
    """What `/readyz` asks and what `/metrics` refreshes; features add theirs when they start."""

    readiness: list[ReadinessCheck] = field(default_factory=list)
    refreshers: list[Refresher] = field(default_factory=list)
    # Set by the scheduler when it starts in this process (absent in a process without one).
    scheduler: Callable[[], SchedulerStatus] | None = None

    async def not_ready(self) -> list[str]:
        """The reasons this process is not ready (empty when it is)."""
        reasons = []
        for check in self.readiness:
            reason = await check()
            if reason:
                reasons.append(reason)
        return reasons

    async def refresh(self) -> None:
        for refresh in self.refreshers:
            await refresh()


def render() -> tuple[bytes, str]:
    """The exposition text of every live process (multiprocess mode) or of this one, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    metrics()  # a scrape before any traffic still lists every metric
    registry: CollectorRegistry | Any = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def prepare_multiprocess() -> str:
    """In the parent of several workers, before forking: a fresh directory for the workers' values."""
    directory = tempfile.mkdtemp(prefix="scrm-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    return directory


def worker_exited(pid: int) -> None:
    """The parent's note that a worker is gone: its live gauges stop counting."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def remove_multiprocess(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)


__all__ = [
    "MULTIPROC_ENV",
    "Metrics",
    "JobStatus",
    "Probes",
    "SchedulerStatus",
    "ReadinessCheck",
    "Refresher",
    "count_pushes",
    "metrics",
    "prepare_multiprocess",
    "remove_multiprocess",
    "render",
    "set_outbox_backlog",
    "worker_exited",
]
