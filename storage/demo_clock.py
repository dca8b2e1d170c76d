"""SQL for the demo clock's shared offset (`demo_clock`, one row): every process of a demo reads it
about once a second; an advance or the fold at shutdown writes it under the write lock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import select

from base.clock import DemoOffset
from storage.db import Database, take_write_lock
from storage.models.demo import DemoClockRow

ROW_ID = 1


def _offset(row: DemoClockRow | None) -> DemoOffset:
    if row is None:
        return DemoOffset()
    return DemoOffset(row.offset_seconds, row.previous_seconds, row.effective_at.timestamp())


async def read_offset(db: Database) -> DemoOffset:
    """The shared offset (none yet: zero)."""
    async with db.session() as session:
        return _offset((await session.exec(select(DemoClockRow).where(DemoClockRow.id == ROW_ID))).first())


async def change_offset(db: Database, change: Callable[[DemoOffset], DemoOffset], real: float) -> DemoOffset:
    """Replace the shared offset with `change(current)` in one write transaction; returns the new one."""
    now = datetime.fromtimestamp(real, UTC)
    values = {"id": ROW_ID, "offset_seconds": 0.0, "previous_seconds": 0.0, "effective_at": now, "updated_at": now}
    # Two processes may create the row at once: whoever loses the race simply finds it there.
    insert: Insert
    if db.is_postgres:
        insert = pg_insert(DemoClockRow).values(**values).on_conflict_do_nothing()
    else:
        insert = sqlite_insert(DemoClockRow).values(**values).on_conflict_do_nothing()
    async with db.engine.begin() as conn:
        await conn.execute(insert)
    async with db.session() as session, session.begin():
        await take_write_lock(await session.connection())
        statement = select(DemoClockRow).where(DemoClockRow.id == ROW_ID)
        if db.is_postgres:
            statement = statement.with_for_update()
        row = (await session.exec(statement)).one()
        new = change(_offset(row))
        row.offset_seconds = new.seconds
        row.previous_seconds = new.previous
        row.effective_at = datetime.fromtimestamp(new.effective_at, UTC)
        row.updated_at = now
        session.add(row)
    return new


__all__ = ["change_offset", "read_offset"]
