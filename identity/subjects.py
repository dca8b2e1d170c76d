"""Finding everything that belongs to one person, from a phone number or an openid (data requests)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession

from base.phones import classify_phone
from base.vault import PhoneVault
from storage.identity import followers_by_openid, followers_by_unionids, followers_of_profile, profile_by_phone_key
from storage.models.core import Follower, Profile


class SubjectNotFound(LookupError):
    """Nothing is held about the person asked for; the message says what was searched."""


@dataclass
class Subject:
    """A person as the database knows them: at most one profile and every follower linked to it."""

    profile: Profile | None
    followers: list[Follower] = field(default_factory=list)
    e164: str | None = None

    @property
    def profile_ids(self) -> set[int]:
        return {self.profile.id} if self.profile is not None and self.profile.id is not None else set()

    @property
    def follower_ids(self) -> set[int]:
        return {f.id for f in self.followers if f.id is not None}

    @property
    def openids(self) -> set[str]:
        return {f.openid for f in self.followers}

    @property
    def unionids(self) -> set[str]:
        return {f.unionid for f in self.followers if f.unionid}


def looks_like_phone(text: str) -> bool:
    """Phones are digits with an optional +86, separators or a mask; openids carry letters, `-` and `_`."""
    compact = re.sub(r"[\s()（）-]", "", text)
    return bool(re.fullmatch(r"\+?[\d*]+", compact)) and sum(ch.isdigit() for ch in compact) >= 4


async def find_subject(session: AsyncSession, vault: PhoneVault, query: str, *, appid: str | None = None) -> Subject:
    """The person behind `query` (a mobile number, or an openid optionally narrowed to one account)."""
    query = query.strip()
    if not query:
        raise SubjectNotFound("give a phone number or an openid")
    if looks_like_phone(query):
        verdict = classify_phone(query)
        if not verdict.is_key or verdict.e164 is None:
            raise SubjectNotFound(f"{query!r} is not a mobile number that can key a profile ({verdict.kind})")
        profile = await profile_by_phone_key(session, vault.lookup_key(verdict.e164))
        if profile is None:
            raise SubjectNotFound("no profile holds that phone number")
        return await _with_followers(session, profile, verdict.e164)
    followers = await followers_by_openid(session, query, appid=appid)
    if not followers:
        raise SubjectNotFound("no follower has that openid" + (f" on {appid}" if appid else ""))
    profile_ids = {f.profile_id for f in followers if f.profile_id is not None}
    if len(profile_ids) > 1:
        raise SubjectNotFound("that openid exists on several accounts with different people: add --appid")
    if not profile_ids:
        alone = Subject(None, followers)
        await _add_unionid_siblings(session, alone)
        return alone
    profile = await session.get(Profile, profile_ids.pop())
    if profile is None:
        return Subject(None, followers)
    e164 = vault.unseal(profile.phone_sealed) if profile.phone_sealed else None
    subject = await _with_followers(session, profile, e164)
    known = subject.follower_ids
    subject.followers.extend(f for f in followers if f.id not in known)
    return subject


async def _with_followers(session: AsyncSession, profile: Profile, e164: str | None) -> Subject:
    # Only followers linked now: one displaced earlier may be someone else who once held the number.
    assert profile.id is not None
    followers = await followers_of_profile(session, profile.id)
    subject = Subject(profile, followers, e164)
    await _add_unionid_siblings(session, subject)
    return subject


async def _add_unionid_siblings(session: AsyncSession, subject: Subject) -> None:
    # WeChat says a unionid is one person across the brand's accounts, linked to the profile or not.
    unionids = subject.unionids
    if not unionids:
        return
    known = subject.follower_ids
    subject.followers.extend(f for f in await followers_by_unionids(session, unionids) if f.id not in known)
