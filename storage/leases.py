"""Named lease rows (`scheduler_leases`): who holds one, until when. Each function is its own short
transaction on the engine, so a lease is never held inside someone else's unit of work."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, case, insert, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models.pushes import SchedulerLease

LEASES = cast(Table, SchedulerLease.__table__)  # type: ignore[attr-defined]


async def take_or_renew(db: Database, *, name: str, holder: str, now: datetime, until: datetime) -> bool:
    """Take the lease when free or expired, renew it when `holder` has it; True when `holder` has it now.

    The take-or-renew is one conditional UPDATE, atomic on PostgreSQL (the row lock re-checks the
    condition) and on SQLite (one writer at a time); a lease never taken yet is inserted.
    """
    statement = (
        update(LEASES)
        .where(LEASES.c.name == name, (LEASES.c.holder == holder) | (LEASES.c.expires_at <= now))
        .values(
            holder=holder,
            expires_at=until,
            acquired_at=case((LEASES.c.holder == holder, LEASES.c.acquired_at), else_=now),
        )
    )
    async with db.engine.begin() as conn:
        if (await conn.execute(statement)).rowcount == 1:
            return True
    try:
        async with db.engine.begin() as conn:
            await conn.execute(insert(LEASES).values(name=name, holder=holder, acquired_at=now, expires_at=until))
    except IntegrityError:
        return False  # someone else holds it
    return True


async def give_up(db: Database, *, name: str, holder: str, now: datetime) -> None:
    """Let the lease expire now, if `holder` has it."""
    async with db.engine.begin() as conn:
        await conn.execute(
            update(LEASES).where(LEASES.c.name == name, LEASES.c.holder == holder).values(expires_at=now)
        )
