"""Reading one profile for the console: found by phone key, openid or name, and everything kept about it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.consent import Consent
from storage.models.core import Follower, Profile
from storage.models.orders import Order
from storage.models.pushes import JourneyRun, Push

SEARCH_LIMIT = 50
DETAIL_LIMIT = 100


async def profiles_by_phone_key(session: AsyncSession, phone_key: str) -> list[Profile]:
    """The profile keyed by this lookup key (the vault's key of a mobile number), if any."""
    return list((await session.exec(select(Profile).where(Profile.phone_key == phone_key))).all())


async def profiles_by_openid_or_name(session: AsyncSession, query: str) -> list[Profile]:
    """Profiles linked to a follower with this exact openid, then profiles whose name contains `query`."""
    by_openid = select(col(Follower.profile_id)).where(Follower.openid == query, col(Follower.profile_id).is_not(None))
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    statement = (
        select(Profile)
        .where(
            or_(
                col(Profile.id).in_(by_openid.scalar_subquery()),
                col(Profile.name).ilike(f"%{escaped}%", escape="\\"),
            )
        )
        .order_by(col(Profile.last_order_at).desc(), col(Profile.id).desc())
        .limit(SEARCH_LIMIT)
    )
    return list((await session.exec(statement)).all())


async def followers_without_profile(session: AsyncSession, openid: str) -> list[Follower]:
    """Followers with this openid who never bound a phone (shown so a search by openid is not empty)."""
    statement = select(Follower).where(Follower.openid == openid, col(Follower.profile_id).is_(None))
    return list((await session.exec(statement)).all())


@dataclass
class ProfileDetail:
    """A profile with its followers, orders, journey runs, pushes and consent history, newest first."""

    profile: Profile
    followers: list[Follower] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    runs: list[JourneyRun] = field(default_factory=list)
    pushes: list[Push] = field(default_factory=list)
    consents: list[Consent] = field(default_factory=list)


async def profile_detail(session: AsyncSession, profile_id: int) -> ProfileDetail | None:
    profile = await session.get(Profile, profile_id)
    if profile is None:
        return None
    followers = list(
        (await session.exec(select(Follower).where(Follower.profile_id == profile_id).order_by(col(Follower.id)))).all()
    )
    follower_ids = [f.id for f in followers if f.id is not None]
    orders = (
        await session.exec(
            select(Order)
            .where(Order.profile_id == profile_id)
            .order_by(col(Order.ordered_at).desc(), col(Order.id).desc())
            .limit(DETAIL_LIMIT)
        )
    ).all()
    person = or_(col(JourneyRun.profile_id) == profile_id, col(JourneyRun.follower_id).in_(follower_ids))
    runs = (
        await session.exec(select(JourneyRun).where(person).order_by(col(JourneyRun.id).desc()).limit(DETAIL_LIMIT))
    ).all()
    pushed_to = or_(col(Push.profile_id) == profile_id, col(Push.follower_id).in_(follower_ids))
    pushes = (await session.exec(select(Push).where(pushed_to).order_by(col(Push.id).desc()).limit(DETAIL_LIMIT))).all()
    consented = or_(col(Consent.profile_id) == profile_id, col(Consent.follower_id).in_(follower_ids))
    consents = (await session.exec(select(Consent).where(consented).order_by(col(Consent.id).desc()))).all()
    return ProfileDetail(profile, followers, list(orders), list(runs), list(pushes), list(consents))


__all__ = [
    "DETAIL_LIMIT",
    "SEARCH_LIMIT",
    "ProfileDetail",
    "followers_without_profile",
    "profile_detail",
    "profiles_by_openid_or_name",
    "profiles_by_phone_key",
]
