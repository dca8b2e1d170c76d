"""Order imports started from the browser: each runs as a background task whose progress is polled.

The upload is streamed to a temporary file first (never held in memory), then imported by the order
importer with a progress callback; the file is deleted when the import ends, whatever the outcome.
Jobs live in this process's memory: the report itself is read from `import_runs`, so it survives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from base.i18n import _
from base.metrics import metrics
from console.uploads import discard

log = logging.getLogger("scrm.console.imports")

# Finished jobs are forgotten after this many newer ones, so memory stays bounded.
_KEEP_FINISHED = 50


@dataclass
class ImportJob:
    """One upload being imported: what the progress bar shows."""

    job_id: str
    file_name: str
    platform: str
    actor: str
    total_bytes: int
    started_at: datetime
    state: str = "queued"  # queued | running | done | failed
    rows_done: int = 0
    bytes_read: int = 0
    run_id: int | None = None
    error: str = ""
    finished_at: datetime | None = None

    @property
    def percent(self) -> int:
        if self.state == "done":
            return 100
        if not self.total_bytes:
            return 0
        # Reading ends before the last batch is written: hold at 99 until the run is committed.
        return min(99, int(100 * self.bytes_read / self.total_bytes))

    def progress(self, rows_done: int, bytes_read: int, total_bytes: int | None = None) -> None:
        """The importer's progress callback: rows handled so far and bytes of the file read."""
        self.rows_done = rows_done
        self.bytes_read = bytes_read
        if total_bytes:
            self.total_bytes = total_bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "file_name": self.file_name,
            "state": self.state,
            "rows_done": self.rows_done,
            "bytes_read": self.bytes_read,
            "total_bytes": self.total_bytes,
            "percent": self.percent,
            "run_id": self.run_id,
            "error": self.error,
        }


# What actually imports a file: (path, job) -> the import_runs id. The job is there for its progress.
ImportWork = Callable[[Path, ImportJob], Awaitable[int]]


@dataclass
class ImportTracker:
    """The jobs of this process and the tasks running them."""

    jobs: dict[str, ImportJob] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def new_job_id(self) -> str:
        return secrets.token_urlsafe(12)

    async def publish(self) -> None:
        """For /metrics: the imports running in this process and the rows they have handled."""
        running = [job for job in self.jobs.values() if job.state in ("queued", "running")]
        metrics().imports_running.set(len(running))
        metrics().import_rows.set(sum(job.rows_done for job in running))

    def start(self, job: ImportJob, path: Path, work: ImportWork, now: Callable[[], datetime]) -> None:
        """Run `work` on `path` in the background; the file is removed when it ends."""
        self.jobs[job.job_id] = job
        self.tasks[job.job_id] = asyncio.create_task(self._run(job, path, work, now), name=f"import-{job.job_id}")
        self._forget_old()

    async def _run(self, job: ImportJob, path: Path, work: ImportWork, now: Callable[[], datetime]) -> None:
        job.state = "running"
        try:
            job.run_id = await work(path, job)
            job.state = "done"
        except asyncio.CancelledError:
            job.state, job.error = "failed", _("the server stopped during the import; upload the file again")
            raise
        except ValueError as error:
            # The importer's own errors (ImportInputError is a ValueError) are messages for the admin.
            job.state, job.error = "failed", str(error)
        except Exception as error:  # noqa: BLE001 - a failed import is reported on its page, and logged
            log.exception("import %s of %s failed", job.job_id, job.file_name)
            job.state, job.error = "failed", unexpected_error(error)
        finally:
            job.finished_at = now()
            self.tasks.pop(job.job_id, None)
            with contextlib.suppress(OSError):
                await asyncio.to_thread(discard, path)

    def _forget_old(self) -> None:
        finished = [job for job in self.jobs.values() if job.state in ("done", "failed")]
        for job in finished[:-_KEEP_FINISHED]:
            self.jobs.pop(job.job_id, None)

    async def wait(self, job_id: str) -> None:
        """Wait for a job's task (tests, and shutdown)."""
        task = self.tasks.get(job_id)
        if task is not None:
            await asyncio.wait([task])

    async def cancel_all(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


def unexpected_error(error: Exception) -> str:
    """How a failure the importer did not foresee is reported on the import's page."""
    return _("unexpected error: %(error)s") % {"error": f"{type(error).__name__}: {error}"}


# The background order imports started from this console.
IMPORTS = web.AppKey("console_imports", ImportTracker)


async def shutdown_imports(app: web.Application) -> None:
    """on_cleanup: stop running imports; a re-run of the same file converges (imports are idempotent)."""
    await app[IMPORTS].cancel_all()
