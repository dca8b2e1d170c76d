"""The dashboard's numbers: the follower-to-repeat-buyer funnel, by channel and by journey, and push outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, case, cast, func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import CHINA
from storage.models.core import Follower, Profile
from storage.models.pushes import FINAL_STATES, JourneyRun, Push

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


def _stage_counts() -> list[Any]:
    buyer = case((col(Profile.order_count) >= 1, 1), else_=0)
    repeat = case((col(Profile.order_count) >= 2, 1), else_=0)
    return [
        func.count(col(Follower.id)),
        func.count(col(Follower.profile_id)),
        func.coalesce(func.sum(cast(buyer, Integer)), 0),
        func.coalesce(func.sum(cast(repeat, Integer)), 0),
    ]


async def totals(session: AsyncSession) -> Totals:
    """Subscribed followers, those bound to a profile, and buyers and repeat buyers among all profiles."""
    subscribed = select(func.count()).select_from(Follower).where(col(Follower.status) == "subscribed")
    bound = subscribed.where(col(Follower.profile_id).is_not(None))
    live = select(func.count()).select_from(Profile).where(col(Profile.erased_at).is_(None))
    return Totals(
        subscribed=int(await session.scalar(subscribed) or 0),
        bound=int(await session.scalar(bound) or 0),
        buyers=int(await session.scalar(live.where(col(Profile.order_count) >= 1)) or 0),
        repeat_buyers=int(await session.scalar(live.where(col(Profile.order_count) >= 2)) or 0),
    )


async def overall_funnel(session: AsyncSession) -> FunnelRow:
    """The funnel of today's subscribed followers: bound, then buyers and repeat buyers among them."""
    statement = (
        select(*_stage_counts())
        .select_from(Follower)
        .join(Profile, col(Profile.id) == col(Follower.profile_id), isouter=True)
        .where(col(Follower.status) == "subscribed")
    )
    row = (await (await session.connection()).execute(statement)).one()
    return FunnelRow("All followers", int(row[0]), int(row[1]), int(row[2]), int(row[3]))


async def funnel_by_channel(session: AsyncSession, *, limit: int = 12) -> list[FunnelRow]:
    """The funnel per QR channel of the follow (followers ever, including those who left since)."""
    channel = func.coalesce(col(Follower.channel_scene), DIRECT)
    statement = (
        select(channel, *_stage_counts())
        .select_from(Follower)
        .join(Profile, col(Profile.id) == col(Follower.profile_id), isouter=True)
        .group_by(channel)
        .order_by(func.count(col(Follower.id)).desc())
        .limit(limit)
    )
    rows = (await (await session.connection()).execute(statement)).all()
    return [FunnelRow(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]


async def funnel_by_journey(session: AsyncSession, *, limit: int = 12) -> list[FunnelRow]:
    """The funnel of the followers each journey enrolled (a follower counts once per journey)."""
    enrolled = (
        select(col(JourneyRun.journey_name).label("journey"), col(JourneyRun.follower_id).label("follower_id"))
        .distinct()
        .subquery()
    )
    statement = (
        select(enrolled.c.journey, *_stage_counts())
        .select_from(enrolled)
        .join(Follower, col(Follower.id) == enrolled.c.follower_id)
        .join(Profile, col(Profile.id) == col(Follower.profile_id), isouter=True)
        .group_by(enrolled.c.journey)
        .order_by(func.count(col(Follower.id)).desc())
        .limit(limit)
    )
    rows = (await (await session.connection()).execute(statement)).all()
    return [FunnelRow(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]


def _china_day(dialect: str) -> Any:
    finished = col(Push.finished_at)
    if dialect == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", finished), "YYYY-MM-DD")
    # SQLite keeps naive UTC; China has had no daylight saving since 1991, so +8 hours is exact.
    return func.strftime("%Y-%m-%d", finished, "+8 hours")


async def push_outcomes_by_day(
    session: AsyncSession, *, now: datetime, days: int = 14, dialect: str
) -> tuple[list[str], dict[str, list[int]]]:
    """For each of the last `days` China days: how many pushes ended in each final state."""
    today = now.astimezone(CHINA).date()
    first = today - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=CHINA)
    day = _china_day(dialect).label("day")
    statement = (
        select(day, col(Push.status), func.count())
        .where(col(Push.finished_at) >= start, col(Push.status).in_(FINAL_STATES))
        .group_by(day, col(Push.status))
    )
    labels = [(first + timedelta(days=offset)).isoformat() for offset in range(days)]
    index = {label: position for position, label in enumerate(labels)}
    series: dict[str, list[int]] = {}
    for label, status, count in (await (await session.connection()).execute(statement)).all():
        if label in index:
            series.setdefault(str(status), [0] * days)[index[label]] += int(count)
    ordered = {status: series[status] for status in FINAL_STATES if status in series}
    return [_short_day(date.fromisoformat(label)) for label in labels], ordered


def _short_day(day: date) -> str:
    return f"{day.month}/{day.day}"
