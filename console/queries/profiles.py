"""Finding profiles (by phone, openid or name) and everything the console shows about one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from base.i18n import _
from base.phones import classify_phone
from base.vault import PhoneVault
from console.queries.deliveries import journey_choices
from console.timeline import describe_chat, describe_event, describe_push
from storage.channels import all_channels
from storage.engagement import chat_deliveries, profile_timeline
from storage.models.consent import Consent
from storage.models.core import Follower, Profile
from storage.models.engagement import SavedSegment
from storage.models.orders import Order
from storage.models.pushes import JourneyRun, Push
from storage.profile_list import saved_segments

SEARCH_LIMIT = 50
DETAIL_LIMIT = 100


class SearchError(ValueError):
    """The query cannot be searched as given; the message says why."""


def looks_like_phone(query: str) -> bool:
    """Digits with an optional + and separators: searched as a phone number, never as a name."""
    stripped = query.replace(" ", "").replace("-", "")
    return stripped.lstrip("+").isdigit() and len(stripped) >= 5


async def find_by_phone(session: AsyncSession, vault: PhoneVault, query: str) -> list[Profile]:
    """The profile keyed by this mobile number (through the vault's lookup key), if any."""
    verdict = classify_phone(query)
    if not verdict.is_key or verdict.e164 is None:
        message = _("%(query)s is not a mobile number that can key a profile (%(kind)s).")
        raise SearchError(message % {"query": query, "kind": verdict.kind})
    statement = select(Profile).where(Profile.phone_key == vault.lookup_key(verdict.e164))
    return list((await session.exec(statement)).all())


async def find_by_openid_or_name(session: AsyncSession, query: str) -> list[Profile]:
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


@dataclass(frozen=True)
class FilterChoices:
    """What the filter form offers in its drop-downs: journeys, channels and the saved segments."""

    journeys: list[tuple[int, str]]
    channels: list[tuple[str, str]]
    saved: list[SavedSegment]


async def filter_choices(session: AsyncSession) -> FilterChoices:
    channels = sorted({(channel.scene, channel.name) for channel in await all_channels(session)})
    return FilterChoices(await journey_choices(session), channels, await saved_segments(session))


@dataclass(frozen=True)
class TimelineLine:
    """One line of the profile page's timeline: when, what kind of thing, and its details as text."""

    at: datetime
    kind: str
    detail: str


async def profile_timeline_lines(session: AsyncSession, detail: ProfileDetail, limit: int = 100) -> list[TimelineLine]:
    """The profile's domain events and orders (storage.engagement.profile_timeline), its pushes and what its
    followers wrote, merged newest first."""
    assert detail.profile.id is not None
    lines = [
        TimelineLine(entry.at, entry.kind, describe_event(entry.kind, entry.detail))
        for entry in await profile_timeline(session, detail.profile.id, limit)
    ]
    lines += [
        TimelineLine(
            push.sent_at or push.finished_at or push.created_at, "push", describe_push(push.step_key, push.status)
        )
        for push in detail.pushes
    ]
    chats = await chat_deliveries(session, [(f.appid, f.openid) for f in detail.followers], limit)
    lines += [TimelineLine(row.received_at, "chat", describe_chat(row.payload, row.reply)) for row in chats]
    lines.sort(key=lambda line: line.at, reverse=True)
    return lines[:limit]
