"""How much work waits: the push outbox by state and the domain events the journeys have not processed.

Read for `/metrics` and the console's dashboard; each is one aggregate over an index.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select

from storage.db import Database
from storage.models.core import DomainEvent
from storage.models.pushes import Push, SchedulerLease

_PUSHES = Push.__table__  # type: ignore[attr-defined]
_EVENTS = DomainEvent.__table__  # type: ignore[attr-defined]


async def outbox_backlog(db: Database, now: datetime) -> dict[str, int]:
    """Pushes waiting: `due` (pending and due now), `scheduled` (pending, later), `held`, `in_flight`."""
    state = case(
        (_PUSHES.c.status == "held", "held"),
        (_PUSHES.c.status.in_(("claimed", "sending")), "in_flight"),
        (_PUSHES.c.due_at <= now, "due"),
        else_="scheduled",
    )
    waiting = _PUSHES.c.status.in_(("pending", "held", "claimed", "sending"))
    statement = select(state, func.count()).where(waiting).group_by(state)
    counts = dict.fromkeys(("due", "scheduled", "held", "in_flight"), 0)
    async with db.engine.connect() as conn:
        for name, count in (await conn.execute(statement)).all():
            counts[str(name)] = int(count)
    return counts


async def unprocessed_events(db: Database) -> int:
    """Domain events the journeys have not processed yet."""
    statement = select(func.count()).select_from(_EVENTS).where(_EVENTS.c.processed_at.is_(None))
    async with db.engine.connect() as conn:
        return int((await conn.execute(statement)).scalar_one())


async def scheduler_lease(db: Database) -> tuple[str, datetime] | None:
    """Who holds the scheduler lease and until when (None when no process ever led)."""
    leases = SchedulerLease.__table__  # type: ignore[attr-defined]
    statement = select(leases.c.holder, leases.c.expires_at).where(leases.c.name == "scheduler")
    async with db.engine.connect() as conn:
        row = (await conn.execute(statement)).first()
    return (str(row[0]), row[1]) if row is not None else None


__all__ = ["outbox_backlog", "scheduler_lease", "unprocessed_events"]
