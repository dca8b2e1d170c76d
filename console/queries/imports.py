"""Import runs and their rejected rows, as the imports page shows and downloads them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Database
from storage.import_runs import latest_audit_entries, latest_runs, rejects_after, rejects_by_line
from storage.models.core import AuditEntry
from storage.models.orders import ImportReject, ImportRun

_CSV_PAGE = 2000
# The audit entry a console import that failed leaves: most fail before the importer records a run.
IMPORT_FAILED = "console.import_failed"


@dataclass(frozen=True)
class FailedImport:
    """An upload whose import failed, as the recent imports list shows it (no run, or an unfinished one)."""

    file_name: str
    platform: str
    actor: str
    started_at: datetime
    error: str
    id: None = None
    state: str = "failed"


def failed_import_entry(
    *, at: datetime, actor: str, file_name: str, platform: str, started_at: datetime, error: str
) -> AuditEntry:
    """The audit entry that records a failed console import (and lists it under recent imports)."""
    detail = {"platform": platform, "started_at": started_at.isoformat(), "error": error[:500]}
    return AuditEntry(at=at, actor=actor, action=IMPORT_FAILED, target=file_name[:200], detail=detail)


async def recent_imports(session: AsyncSession, limit: int = 20) -> list[ImportRun | FailedImport]:
    """The latest runs and failed uploads together, newest first."""
    runs: list[ImportRun | FailedImport] = list(await latest_runs(session, limit))
    for entry in await latest_audit_entries(session, IMPORT_FAILED, limit):
        started = entry.detail.get("started_at")
        runs.append(
            FailedImport(
                file_name=entry.target,
                platform=str(entry.detail.get("platform", "")),
                actor=entry.actor,
                started_at=datetime.fromisoformat(started) if isinstance(started, str) else entry.at,
                error=str(entry.detail.get("error", "")),
            )
        )
    return sorted(runs, key=lambda item: item.started_at, reverse=True)[:limit]


async def first_rejects(session: AsyncSession, run_id: int, limit: int = 100) -> list[ImportReject]:
    return await rejects_by_line(session, run_id, limit)


async def all_rejects(db: Database, run_id: int) -> AsyncIterator[list[ImportReject]]:
    """Every reject of a run in pages, by id, so a huge report streams without being held in memory."""
    after = 0
    while True:
        async with db.session() as session:
            page = await rejects_after(session, run_id, after_id=after, limit=_CSV_PAGE)
        if not page:
            return
        yield page
        after = page[-1].id or after
