"""Pushes as the deliveries page and the journey report see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import CHINA
from storage.deliveries import journey_names, push_states_per_step, pushes_newest_first
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
    rows = await pushes_newest_first(
        session,
        limit=limit,
        status=wanted.status,
        journey_id=wanted.journey_id,
        created_from=_china_midnight(wanted.day_from) if wanted.day_from is not None else None,
        created_before=_china_midnight(wanted.day_to + timedelta(days=1)) if wanted.day_to is not None else None,
        before_id=wanted.before_id,
    )
    return [Delivery(push, journey_name or "", phone or "") for push, journey_name, phone in rows]


async def journey_choices(session: AsyncSession) -> list[tuple[int, str]]:
    return await journey_names(session)


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
    steps: dict[tuple[int, str], dict[str, int]] = {}
    for index, key, status, count in await push_states_per_step(session, journey_id):
        steps.setdefault((index, key), {})[status] = count
    return [StepResult(index, key, counts) for (index, key), counts in sorted(steps.items())]
