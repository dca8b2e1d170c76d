"""Finding profiles (by phone, openid or name) and everything the console shows about one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from base.i18n import _
from base.phones import classify_phone
from base.vault import PhoneVault
from console.queries.deliveries import journey_choices
from console.timeline import describe_chat, describe_event, describe_push
from storage.channels import all_channels
from storage.engagement import chat_deliveries, profile_timeline
from storage.models.core import Profile
from storage.models.engagement import SavedSegment
from storage.profile_detail import ProfileDetail, profiles_by_phone_key
from storage.profile_list import saved_segments


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
    return await profiles_by_phone_key(session, vault.lookup_key(verdict.e164))


__all__ = [
    "FilterChoices",
    "SearchError",
    "TimelineLine",
    "filter_choices",
    "find_by_phone",
    "looks_like_phone",
    "profile_timeline_lines",
]


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
