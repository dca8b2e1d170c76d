"""The dashboard's figures: the follower-to-repeat-buyer funnel (overall, by channel, by journey) and the
pushes that ended each China day. Counts come back as plain tuples; the console names and draws them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, case, cast, func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.core import Follower, Profile
from storage.models.pushes import FINAL_STATES, JourneyRun, Push

# followers, bound to a profile, buyers, repeat buyers
Stages = tuple[int, int, int, int]


def _stage_counts() -> list[Any]:
    buyer = case((col(Profile.order_count) >= 1, 1), else_=0)
    repeat = case((col(Profile.order_count) >= 2, 1), else_=0)
    return [
        func.count(col(Follower.id)),
        func.count(col(Follower.profile_id)),
        func.coalesce(func.sum(cast(buyer, Integer)), 0),
        func.coalesce(func.sum(cast(repeat, Integer)), 0),
    ]


def _stages(row: Any, first: int = 0) -> Stages:
    return int(row[first]), int(row[first + 1]), int(row[first + 2]), int(row[first + 3])


async def totals(session: AsyncSession) -> Stages:
    """Subscribed followers, those bound to a profile, and buyers and repeat buyers among all profiles."""
    subscribed = select(func.count()).select_from(Follower).where(col(Follower.status) == "subscribed")
    bound = subscribed.where(col(Follower.profile_id).is_not(None))
    live = select(func.count()).select_from(Profile).where(col(Profile.erased_at).is_(None))
    return (
        int(await session.scalar(subscribed) or 0),
        int(await session.scalar(bound) or 0),
        int(await session.scalar(live.where(col(Profile.order_count) >= 1)) or 0),
        int(await session.scalar(live.where(col(Profile.order_count) >= 2)) or 0),
    )


async def overall_funnel(session: AsyncSession) -> Stages:
    """The funnel of today's subscribed followers: bound, then buyers and repeat buyers among them."""
    statement = (
        select(*_stage_counts())
        .select_from(Follower)
        .join(Profile, col(Profile.id) == col(Follower.profile_id), isouter=True)
        .where(col(Follower.status) == "subscribed")
    )
    return _stages((await (await session.connection()).execute(statement)).one())


async def funnel_by_channel(session: AsyncSession, *, limit: int, direct: str) -> list[tuple[str, Stages]]:
    """The funnel per QR channel of the follow (followers ever); a follow with no channel is `direct`."""
    channel = func.coalesce(col(Follower.channel_scene), direct)
    statement = (
        select(channel, *_stage_counts())
        .select_from(Follower)
        .join(Profile, col(Profile.id) == col(Follower.profile_id), isouter=True)
        .group_by(channel)
        .order_by(func.count(col(Follower.id)).desc())
        .limit(limit)
    )
    rows = (await (await session.connection()).execute(statement)).all()
    return [(str(row[0]), _stages(row, 1)) for row in rows]


async def funnel_by_journey(session: AsyncSession, *, limit: int) -> list[tuple[str, Stages]]:
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
    return [(str(row[0]), _stages(row, 1)) for row in rows]


def _china_day(dialect: str) -> Any:
    finished = col(Push.finished_at)
    if dialect == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", finished), "YYYY-MM-DD")
    # SQLite keeps naive UTC; China has had no daylight saving since 1991, so +8 hours is exact.
    return func.strftime("%Y-%m-%d", finished, "+8 hours")


async def finished_pushes_by_china_day(session: AsyncSession, *, since: datetime) -> list[tuple[str, str, int]]:
    """(China day as YYYY-MM-DD, final state, pushes) of the pushes that ended since `since`."""
    connection = await session.connection()
    day = _china_day(connection.dialect.name).label("day")
    statement = (
        select(day, col(Push.status), func.count())
        .where(col(Push.finished_at) >= since, col(Push.status).in_(FINAL_STATES))
        .group_by(day, col(Push.status))
    )
    return [(str(label), str(status), int(count)) for label, status, count in await connection.execute(statement)]
