"""Housekeeping of the push outbox: pushes past their expiry, held pushes whose follower came back, and
the claims of a dispatcher that died.

Every sweep looks before it writes. Finding pushes past their expiry reads every pending push of the
outbox, tens of milliseconds for 100,000 of them; done as an UPDATE it held SQLite's one writer all that
time (storage.writers_turn), and every callback's durable write waited behind it at each dispatch tick.
Looked for in a read, most sweeps find nothing and write nothing. The write then changes only the pushes
found, with the sweep's conditions checked again, so a push that changed in between is left alone (the
next sweep looks again), in transactions of at most `WRITE_CHUNK` pushes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from storage.db import Database
from storage.pushes import FOLLOWERS, PUSHES, insert_attempts

# Pushes changed per write transaction: a mass expiry does not hold the writers' turn for long either.
WRITE_CHUNK = 500


@dataclass(frozen=True)
class Sweep:
    """One housekeeping change: which pushes it applies to, what it sets, and the outcome it records."""

    where: tuple[ColumnElement[bool], ...]
    values: Mapping[str, Any]
    outcome: str
    reason: str


def outbox_sweeps(now: datetime, abandoned_before: datetime) -> dict[str, Sweep]:
    """The sweeps by the name their count has in the dispatcher's report, in the order they apply.

    `abandoned_before`: claims older than this belong to a dispatcher that died.
    """
    interacted = (
        select(FOLLOWERS.c.id)
        .where(
            FOLLOWERS.c.id == PUSHES.c.follower_id,
            or_(FOLLOWERS.c.last_message_at > PUSHES.c.held_at, FOLLOWERS.c.last_event_at > PUSHES.c.held_at),
        )
        .exists()
    )
    status = PUSHES.c.status
    return {
        # Pending or held pushes whose expiry passed become "expired" (final).
        "expired": Sweep(
            (status.in_(("pending", "held")), PUSHES.c.expires_at <= now),
            {"status": "expired", "finished_at": now, "reason": "expired before it could be delivered"},
            "expired",
            "expired",
        ),
        # Held pushes whose follower interacted since go back to "pending", due now. The interaction hook
        # normally does this at once; this covers a hook that never ran (the follower wrote to another
        # process, or the hook failed).
        "released": Sweep(
            (status == "held", interacted), {"status": "pending", "due_at": now}, "released", "follower interacted"
        ),
        # "claimed" pushes of a dead dispatcher never reached the API: back to "pending".
        "reclaimed": Sweep(
            (status == "claimed", PUSHES.c.claimed_at < abandoned_before),
            {"status": "pending", "claim_token": None},
            "released",
            "claim of a dead dispatcher",
        ),
        # "sending" ones may or may not have reached WeChat, and the customer-service API has no
        # idempotency key: they are never resent and end as "unknown" (final), which the report counts.
        "unknown": Sweep(
            (status == "sending", PUSHES.c.claimed_at < abandoned_before),
            {
                "status": "unknown",
                "claim_token": None,
                "finished_at": now,
                "reason": "interrupted mid-send: it may or may not have reached the follower; never resent",
            },
            "unknown",
            "interrupted mid-send",
        ),
    }


async def sweep_outbox(db: Database, *, now: datetime, abandoned_before: datetime) -> dict[str, list[int]]:
    """Apply every sweep; returns the ids each one changed, by its name."""
    sweeps = outbox_sweeps(now, abandoned_before)
    found = await _look(db, sweeps)
    changed: dict[str, list[int]] = {name: [] for name in sweeps}
    for name, sweep in sweeps.items():
        recorded = {"at": now, "outcome": sweep.outcome, "reason": sweep.reason, "channel": "", "errcode": None}
        for start in range(0, len(found[name]), WRITE_CHUNK):
            async with db.engine.begin() as conn:
                ids = await _apply(conn, sweep, found[name][start : start + WRITE_CHUNK])
                await insert_attempts(conn, [{"push_id": push_id, **recorded} for push_id in ids])
            changed[name] += ids
    return changed


async def _look(db: Database, sweeps: Mapping[str, Sweep]) -> dict[str, list[int]]:
    """The pushes each sweep would change now, read without taking the writers' turn."""
    found: dict[str, list[int]] = {}
    async with db.engine.connect() as conn:
        for name, sweep in sweeps.items():
            found[name] = list((await conn.execute(select(PUSHES.c.id).where(*sweep.where))).scalars())
    return found


async def _apply(conn: AsyncConnection, sweep: Sweep, ids: Sequence[int]) -> list[int]:
    """The sweep's change to those of `ids` that still meet its conditions; returns their ids."""
    statement = (
        update(PUSHES).where(PUSHES.c.id.in_(list(ids)), *sweep.where).values(**sweep.values).returning(PUSHES.c.id)
    )
    return list((await conn.execute(statement)).scalars().all())
