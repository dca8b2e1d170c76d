"""SQL of the journey report: pushes per step and status, deliveries after a hold, attributed orders,
runs per state, and the journeys' names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.content import Journey
from storage.models.pushes import JourneyRun, Push, PushAttribution


async def journey_names(session: AsyncSession) -> dict[int, str]:
    return {j.id: j.name for j in (await session.exec(select(Journey))).all() if j.id is not None}


async def pushes_per_step_and_status(session: AsyncSession) -> Sequence[Any]:
    """(journey id, step index, step key, status, count) of journeys' pushes."""
    conn = await session.connection()
    result = await conn.execute(
        sa_select(col(Push.journey_id), col(Push.step_index), col(Push.step_key), col(Push.status), func.count())
        .where(col(Push.journey_id).is_not(None))
        .group_by(col(Push.journey_id), col(Push.step_index), col(Push.step_key), col(Push.status))
    )
    return result.all()


async def sent_after_hold_per_step(session: AsyncSession) -> Sequence[Any]:
    """(journey id, step index, step key, count) of pushes sent after being held for a window."""
    result = await session.exec(
        select(Push.journey_id, Push.step_index, Push.step_key, func.count())
        .where(Push.status == "sent", col(Push.held_at).is_not(None), col(Push.journey_id).is_not(None))
        .group_by(col(Push.journey_id), col(Push.step_index), col(Push.step_key))
    )
    return result.all()


async def credited_orders_per_step(session: AsyncSession) -> Sequence[Any]:
    """(journey id, step index, step key, amount in fen, refunded) of each order credited to a push."""
    conn = await session.connection()
    result = await conn.execute(
        sa_select(col(PushAttribution.journey_id), col(PushAttribution.step_index), col(Push.step_key),
                  col(PushAttribution.amount_fen), col(PushAttribution.refunded))
        .join(Push, col(Push.id) == col(PushAttribution.push_id))
        .where(col(PushAttribution.journey_id).is_not(None))
    )  # fmt: skip
    return result.all()


async def runs_per_state(session: AsyncSession) -> Sequence[Any]:
    """(journey id, state, count) of runs."""
    result = await session.exec(
        select(JourneyRun.journey_id, JourneyRun.state, func.count()).group_by(
            col(JourneyRun.journey_id), col(JourneyRun.state)
        )
    )
    return result.all()
