"""The dashboard's numbers: the follower-to-repeat-buyer funnel, by channel and by journey, and push outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

import storage.dashboard as figures
from base.clock import CHINA
from storage.models.pushes import FINAL_STATES

DIRECT = "(no channel)"


@dataclass(frozen=True)
class FunnelRow:
    """Followers of one group and how many of them went on to each next stage."""

    label: str
    followers: int
    bound: int
    buyers: int
    repeat_buyers: int

    def stages(self) -> list[tuple[str, int]]:
        return [
            ("Followers", self.followers),
            ("Bound a phone", self.bound),
            ("Buyers", self.buyers),
            ("Repeat buyers", self.repeat_buyers),
        ]


@dataclass(frozen=True)
class Totals:
    subscribed: int
    bound: int
    buyers: int
    repeat_buyers: int


async def totals(session: AsyncSession) -> Totals:
    """Subscribed followers, those bound to a profile, and buyers and repeat buyers among all profiles."""
    return Totals(*await figures.totals(session))


async def overall_funnel(session: AsyncSession) -> FunnelRow:
    """The funnel of today's subscribed followers: bound, then buyers and repeat buyers among them."""
    return FunnelRow("All followers", *await figures.overall_funnel(session))


async def funnel_by_channel(session: AsyncSession, *, limit: int = 12) -> list[FunnelRow]:
    """The funnel per QR channel of the follow (followers ever, including those who left since)."""
    rows = await figures.funnel_by_channel(session, limit=limit, direct=DIRECT)
    return [FunnelRow(label, *stages) for label, stages in rows]


async def funnel_by_journey(session: AsyncSession, *, limit: int = 12) -> list[FunnelRow]:
    """The funnel of the followers each journey enrolled (a follower counts once per journey)."""
    return [FunnelRow(label, *stages) for label, stages in await figures.funnel_by_journey(session, limit=limit)]


async def push_outcomes_by_day(
    session: AsyncSession, *, now: datetime, days: int = 14
) -> tuple[list[str], dict[str, list[int]]]:
    """For each of the last `days` China days: how many pushes ended in each final state."""
    today = now.astimezone(CHINA).date()
    first = today - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=CHINA)
    labels = [(first + timedelta(days=offset)).isoformat() for offset in range(days)]
    index = {label: position for position, label in enumerate(labels)}
    series: dict[str, list[int]] = {}
    for label, status, count in await figures.finished_pushes_by_china_day(session, since=start):
        if label in index:
            series.setdefault(status, [0] * days)[index[label]] += count
    ordered = {status: series[status] for status in FINAL_STATES if status in series}
    return [_short_day(date.fromisoformat(label)) for label in labels], ordered


def _short_day(day: date) -> str:
    return f"{day.month}/{day.day}"
