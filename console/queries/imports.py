"""Import runs and their rejected rows, as the imports page shows and downloads them."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Database
from storage.models.orders import ImportReject, ImportRun

_CSV_PAGE = 2000


async def recent_runs(session: AsyncSession, limit: int = 20) -> list[ImportRun]:
    return list((await session.exec(select(ImportRun).order_by(col(ImportRun.id).desc()).limit(limit))).all())


async def first_rejects(session: AsyncSession, run_id: int, limit: int = 100) -> list[ImportReject]:
    statement = (
        select(ImportReject)
        .where(ImportReject.import_run_id == run_id)
        .order_by(col(ImportReject.line_no), col(ImportReject.id))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def all_rejects(db: Database, run_id: int) -> AsyncIterator[list[ImportReject]]:
    """Every reject of a run in pages, by id, so a huge report streams without being held in memory."""
    after = 0
    while True:
        async with db.session() as session:
            statement = (
                select(ImportReject)
                .where(ImportReject.import_run_id == run_id, col(ImportReject.id) > after)
                .order_by(col(ImportReject.id))
                .limit(_CSV_PAGE)
            )
            page = list((await session.exec(statement)).all())
        if not page:
            return
        yield page
        after = page[-1].id or after
