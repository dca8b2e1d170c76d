"""Import runs, their rejected rows and the audit entries of failed console uploads, as the console's
imports page lists and downloads them."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.core import AuditEntry
from storage.models.orders import ImportReject, ImportRun


async def latest_runs(session: AsyncSession, limit: int) -> list[ImportRun]:
    return list((await session.exec(select(ImportRun).order_by(col(ImportRun.id).desc()).limit(limit))).all())


async def latest_audit_entries(session: AsyncSession, action: str, limit: int) -> list[AuditEntry]:
    statement = select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id).desc())
    return list((await session.exec(statement.limit(limit))).all())


async def rejects_by_line(session: AsyncSession, run_id: int, limit: int) -> list[ImportReject]:
    """The first rejects of a run in file order."""
    statement = (
        select(ImportReject)
        .where(ImportReject.import_run_id == run_id)
        .order_by(col(ImportReject.line_no), col(ImportReject.id))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def rejects_after(session: AsyncSession, run_id: int, *, after_id: int, limit: int) -> list[ImportReject]:
    """A page of a run's rejects by id, after `after_id`."""
    statement = (
        select(ImportReject)
        .where(ImportReject.import_run_id == run_id, col(ImportReject.id) > after_id)
        .order_by(col(ImportReject.id))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def has_import_runs(session: AsyncSession) -> bool:
    return (await session.exec(select(ImportRun.id).limit(1))).first() is not None
