"""SQL for a journey's versions: console drafts and the versions that were published."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.content import JourneyVersion


async def list_journey_versions(session: AsyncSession, journey_id: int) -> Sequence[JourneyVersion]:
    """Newest first."""
    statement = (
        select(JourneyVersion)
        .where(JourneyVersion.journey_id == journey_id)
        .order_by(col(JourneyVersion.version).desc())
    )
    return (await session.exec(statement)).all()


async def journey_version(session: AsyncSession, journey_id: int, number: int) -> JourneyVersion | None:
    statement = select(JourneyVersion).where(JourneyVersion.journey_id == journey_id, JourneyVersion.version == number)
    return (await session.exec(statement)).first()


async def last_version_number(session: AsyncSession, journey_id: int) -> int:
    statement = select(func.max(JourneyVersion.version)).where(JourneyVersion.journey_id == journey_id)
    return int((await session.exec(statement)).one() or 0)
