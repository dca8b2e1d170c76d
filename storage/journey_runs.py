"""Reads of journey runs, followers and sent pushes: for a whole batch of domain events at once, for
the runs due to move on, and for a `clicked` branch (a run's push of a step and its first click).

Enrolment handles its events in batches; these read in one statement each what the batch's events
need (instead of a few statements per event), as ORM objects of the caller's session, so what the
batch then changes is written back by that session.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.core import Follower, Profile
from storage.models.links import LinkClick
from storage.models.pushes import JourneyRun, Push, PushAttribution


async def followers_by_ids(session: AsyncSession, ids: Collection[int]) -> list[Follower]:
    if not ids:
        return []
    return list((await session.exec(select(Follower).where(col(Follower.id).in_(sorted(ids))))).all())


async def profiles_by_ids(session: AsyncSession, ids: Collection[int]) -> list[Profile]:
    if not ids:
        return []
    return list((await session.exec(select(Profile).where(col(Profile.id).in_(sorted(ids))))).all())


async def followers_of_profiles(session: AsyncSession, profile_ids: Collection[int]) -> list[Follower]:
    """Followers now linked to any of these profiles, in id order."""
    if not profile_ids:
        return []
    statement = select(Follower).where(col(Follower.profile_id).in_(sorted(profile_ids))).order_by(col(Follower.id))
    return list((await session.exec(statement)).all())


async def latest_runs(session: AsyncSession, follower_ids: Collection[int]) -> list[JourneyRun]:
    """Each follower's latest run in every journey it ever entered (its active one, if any, is its latest:
    a follower has at most one active run per journey, and nothing enrols it again while that lasts)."""
    if not follower_ids:
        return []
    latest = (
        select(func.max(JourneyRun.id))
        .where(col(JourneyRun.follower_id).in_(sorted(follower_ids)))
        .group_by(col(JourneyRun.journey_id), col(JourneyRun.follower_id))
    )
    return list((await session.exec(select(JourneyRun).where(col(JourneyRun.id).in_(latest)))).all())


async def sent_pushes_of_profiles(
    session: AsyncSession, profile_ids: Collection[int], *, since: datetime, until: datetime
) -> list[Push]:
    """Pushes sent to these profiles' followers between `since` and `until`, latest first."""
    if not profile_ids:
        return []
    statement = (
        select(Push)
        .where(
            col(Push.profile_id).in_(sorted(profile_ids)),
            Push.status == "sent",
            col(Push.sent_at) >= since,
            col(Push.sent_at) <= until,
        )
        .order_by(col(Push.sent_at).desc(), col(Push.id).desc())
    )
    return list((await session.exec(statement)).all())


async def credited_orders(session: AsyncSession, order_nos: Collection[str]) -> set[tuple[str, str]]:
    """(platform, order number) of these orders already credited to a push."""
    if not order_nos:
        return set()
    statement = select(PushAttribution.platform, PushAttribution.order_no).where(
        col(PushAttribution.order_no).in_(sorted(order_nos))
    )
    return {(platform, order_no) for platform, order_no in (await session.exec(statement)).all()}


async def latest_step_push(session: AsyncSession, run_id: int, step_key: str) -> Push | None:
    """The run's newest push of one send step (a journey that loops through the step sent it again)."""
    statement = (
        select(Push).where(Push.run_id == run_id, Push.step_key == step_key).order_by(col(Push.id).desc()).limit(1)
    )
    return (await session.exec(statement)).first()


async def first_click_on_push(session: AsyncSession, push_id: int, follower_id: int) -> datetime | None:
    """When this follower first opened a link of this push (a forwarded copy opened by someone else, or
    a click nobody authorized, is not theirs)."""
    statement = select(func.min(LinkClick.clicked_at)).where(
        LinkClick.delivery_kind == "push", LinkClick.delivery_id == push_id, LinkClick.follower_id == follower_id
    )
    return (await session.exec(statement)).one()


async def active_run_counts(session: AsyncSession) -> dict[int, int]:
    """Active runs per journey id."""
    statement = (
        select(col(JourneyRun.journey_id), func.count())
        .where(col(JourneyRun.state) == "active")
        .group_by(col(JourneyRun.journey_id))
    )
    return {int(journey): int(count) for journey, count in (await session.exec(statement)).all()}


async def due_runs(session: AsyncSession, now: datetime, limit: int) -> list[JourneyRun]:
    """Active runs whose wait is over, oldest first, locked for this transaction (skipped if locked)."""
    statement = (
        select(JourneyRun)
        .where(JourneyRun.state == "active", col(JourneyRun.resume_at) <= now)
        .order_by(col(JourneyRun.resume_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.exec(statement)).all())
