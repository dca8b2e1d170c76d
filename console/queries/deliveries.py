"""Pushes as the deliveries page and the journey report see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import CHINA
from storage.models.content import Journey
from storage.models.core import Profile
from storage.models.pushes import Push

PAGE_SIZE = 50
STATUSES = ("pending", "held", "claimed", "sending", "sent", "expired", "skipped", "failed", "cancelled", "unknown")


@dataclass(frozen=True)
class DeliveryFilter:
    """What the editor asked to see; every field optional."""

    status: str = ""
    journey_id: int | None = None
    day_from: date | None = None
    day_to: date | None = None
    before_id: int | None = None


@dataclass(frozen=True)
class Delivery:
    push: Push
    journey_name: str
    phone_masked: str


def _china_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA)


async def list_deliveries(session: AsyncSession, wanted: DeliveryFilter, *, limit: int = PAGE_SIZE) -> list[Delivery]:
    """Newest first, `limit` at a time; `before_id` continues from the previous page."""
    statement = (
        select(Push, Journey.name, Profile.phone_masked)
        .join(Journey, col(Journey.id) == col(Push.journey_id), isouter=True)
        .join(Profile, col(Profile.id) == col(Push.profile_id), isouter=True)
        .order_by(col(Push.id).desc())
        .limit(limit)
    )
    if wanted.status:
        statement = statement.where(Push.status == wanted.status)
    if wanted.journey_id is not None:
        statement = statement.where(Push.journey_id == wanted.journey_id)
    if wanted.day_from is not None:
        statement = statement.where(col(Push.created_at) >= _china_midnight(wanted.day_from))
    if wanted.day_to is not None:
        statement = statement.where(col(Push.created_at) < _china_midnight(wanted.day_to + timedelta(days=1)))
    if wanted.before_id is not None:
        statement = statement.where(col(Push.id) < wanted.before_id)
    rows = (await session.exec(statement)).all()
    return [Delivery(push, journey_name or "", phone or "") for push, journey_name, phone in rows]


async def journey_choices(session: AsyncSession) -> list[tuple[int, str]]:
    rows = (await session.exec(select(Journey.id, Journey.name).order_by(col(Journey.name)))).all()
    return [(int(journey_id), str(name)) for journey_id, name in rows if journey_id is not None]


@dataclass(frozen=True)
class StepResult:
    """How the pushes of one step of a journey ended (and how many are still open)."""

    step_index: int
    step_key: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def step_results(session: AsyncSession, journey_id: int) -> list[StepResult]:
    """Per step of a journey: how many pushes are in each state."""
    statement = (
        select(col(Push.step_index), col(Push.step_key), col(Push.status), func.count())
        .where(Push.journey_id == journey_id)
        .group_by(col(Push.step_index), col(Push.step_key), col(Push.status))
        .order_by(col(Push.step_index))
    )
    steps: dict[tuple[int, str], dict[str, int]] = {}
    for index, key, status, count in (await session.exec(statement)).all():
        steps.setdefault((int(index), str(key)), {})[str(status)] = int(count)
    return [StepResult(index, key, counts) for (index, key), counts in sorted(steps.items())]
