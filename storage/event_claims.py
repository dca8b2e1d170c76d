"""Claiming waiting domain events for enrolment: mark them processed, keep those that concern anybody.

The claim commits with what the events did (the caller's transaction), so an event is processed exactly
once even when several processes run the job; SKIP LOCKED on PostgreSQL lets them share the queue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from sqlmodel import select as model_select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.core import DomainEvent, Follower
from storage.models.identity import FollowerLink
from storage.pushes import picked_once

EVENTS = cast(Table, DomainEvent.__table__)  # type: ignore[attr-defined]
FOLLOWERS = cast(Table, Follower.__table__)  # type: ignore[attr-defined]
LINKS = cast(Table, FollowerLink.__table__)  # type: ignore[attr-defined]


async def claim_events(session: AsyncSession, now: datetime, limit: int) -> tuple[int, list[DomainEvent]]:
    """Mark up to `limit` waiting events processed; how many, and those that can concern anybody.

    Events about a follower (followed, bound, clicked...) are claimed before events about a profile
    alone: an import writes the latter by the hundred thousand, and a follower who binds a phone while
    that backlog drains must get the journey's first message now, not when the backlog is gone.

    An event about a profile no follower is or ever was linked to enrols nobody, ends no run and credits
    no push (pushes only ever went to followers): an import of a shop's history writes many of those, and
    they are passed over here in bulk instead of one by one.
    """
    conn = await session.connection()
    found = await _claim_waiting(conn, now, limit, followers_only=True)
    if len(found) < limit:
        found += await _claim_waiting(conn, now, limit - len(found), followers_only=False)
    profiles = {row.profile_id for row in found if row.follower_id is None and row.profile_id is not None}
    reachable = await _linked_profiles(conn, profiles)
    ids = sorted(row.id for row in found if row.follower_id is not None or row.profile_id in reachable)
    if not ids:
        return len(found), []
    rows = (await session.exec(model_select(DomainEvent).where(col(DomainEvent.id).in_(ids)))).all()
    return len(found), sorted(rows, key=lambda e: e.id or 0)


async def _claim_waiting(conn: AsyncConnection, now: datetime, limit: int, *, followers_only: bool) -> list[Any]:
    """Claim up to `limit` waiting events, oldest first (those about a follower only, if asked)."""
    waiting = select(EVENTS.c.id).where(EVENTS.c.processed_at.is_(None))
    if followers_only:
        waiting = waiting.where(EVENTS.c.follower_id.is_not(None))
    picked = picked_once(conn, waiting.order_by(EVENTS.c.id).limit(limit).with_for_update(skip_locked=True))
    claimed = await conn.execute(
        update(EVENTS)
        .where(EVENTS.c.id.in_(picked), EVENTS.c.processed_at.is_(None))
        .values(processed_at=now)
        .returning(EVENTS.c.id, EVENTS.c.follower_id, EVENTS.c.profile_id)
    )
    return list(claimed.all())


async def _linked_profiles(conn: AsyncConnection, profile_ids: set[int]) -> set[int]:
    """Which of these profiles a follower is, or once was, linked to."""
    if not profile_ids:
        return set()
    wanted = sorted(profile_ids)
    now_linked = select(FOLLOWERS.c.profile_id).where(FOLLOWERS.c.profile_id.in_(wanted))
    once_linked = select(LINKS.c.profile_id).where(LINKS.c.profile_id.in_(wanted))
    return set((await conn.execute(now_linked.union(once_linked))).scalars().all())
