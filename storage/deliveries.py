"""Pushes as the console's deliveries page and journey report list them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.content import Journey
from storage.models.core import Profile
from storage.models.pushes import Push


async def pushes_newest_first(
    session: AsyncSession,
    *,
    limit: int,
    status: str = "",
    journey_id: int | None = None,
    created_from: datetime | None = None,
    created_before: datetime | None = None,
    before_id: int | None = None,
) -> Sequence[tuple[Push, str | None, str | None]]:
    """(push, its journey's name, its profile's masked phone), newest first, narrowed by what is given."""
    statement = (
        select(Push, Journey.name, Profile.phone_masked)
        .join(Journey, col(Journey.id) == col(Push.journey_id), isouter=True)
        .join(Profile, col(Profile.id) == col(Push.profile_id), isouter=True)
        .order_by(col(Push.id).desc())
        .limit(limit)
    )
    if status:
        statement = statement.where(Push.status == status)
    if journey_id is not None:
        statement = statement.where(Push.journey_id == journey_id)
    if created_from is not None:
        statement = statement.where(col(Push.created_at) >= created_from)
    if created_before is not None:
        statement = statement.where(col(Push.created_at) < created_before)
    if before_id is not None:
        statement = statement.where(col(Push.id) < before_id)
    return (await session.exec(statement)).all()


async def journey_names(session: AsyncSession) -> list[tuple[int, str]]:
    """(id, name) of every journey, by name."""
    rows = (await session.exec(select(Journey.id, Journey.name).order_by(col(Journey.name)))).all()
    return [(int(journey_id), str(name)) for journey_id, name in rows if journey_id is not None]


async def push_states_per_step(session: AsyncSession, journey_id: int) -> list[tuple[int, str, str, int]]:
    """(step index, step key, state, pushes) of a journey's pushes, by step."""
    statement = (
        select(col(Push.step_index), col(Push.step_key), col(Push.status), func.count())
        .where(Push.journey_id == journey_id)
        .group_by(col(Push.step_index), col(Push.step_key), col(Push.status))
        .order_by(col(Push.step_index))
    )
    return [(int(i), str(k), str(s), int(n)) for i, k, s, n in (await session.exec(statement)).all()]
