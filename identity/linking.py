"""Linking followers to phone-keyed profiles: link after proof, unionid siblings, admin unlink.

Every link and unlink closes or opens a `follower_links` row (the history is never rewritten) and writes
an audit entry saying who, when and how it was proven. A link also inserts the `phone_bound` domain event.
All functions work in the caller's session and leave committing to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from base.vault import PhoneVault, mask_phone
from storage.events import add_event, follower_event
from storage.identity import (
    followers_by_unionids,
    followers_of_profile,
    linked_profiles_of_unionid,
    open_follower_link,
    phone_held_by_other_follower,
    profile_by_phone_key,
)
from storage.models.core import AuditEntry, Follower, Profile
from storage.models.identity import FollowerLink

PROOF_SMS = "sms_code"
PROOF_ORDER = "order_question"
PROOF_UNIONID = "unionid"
PROOF_ADMIN = "admin_review"
UNIONID_ACTOR = "system:unionid"


@dataclass
class LinkOutcome:
    """What a link changed: the profile, whether it is new, and which other followers moved."""

    profile: Profile
    created_profile: bool
    # Followers of the same account that held this phone before and were unlinked from it.
    displaced: list[Follower] = field(default_factory=list)
    # Followers of the brand's other accounts linked through the shared unionid.
    unionid_linked: list[Follower] = field(default_factory=list)


def follower_target(follower: Follower) -> str:
    """How audit entries name a follower: by id, so the log itself holds no openid."""
    return f"follower:{follower.id}"


def audit(session: AsyncSession, *, actor: str, action: str, target: str, at: datetime, **detail: Any) -> None:
    """Append an audit entry (caller commits)."""
    session.add(AuditEntry(at=at, actor=actor, action=action, target=target, detail=detail))


async def find_profile(session: AsyncSession, vault: PhoneVault, e164: str) -> Profile | None:
    """The profile keyed by this E.164 number, if any."""
    return await profile_by_phone_key(session, vault.lookup_key(e164))


async def get_or_create_profile(
    session: AsyncSession, vault: PhoneVault, e164: str, now: datetime
) -> tuple[Profile, bool]:
    """The profile of this number, created (sealed, masked) when none exists; safe against a racing insert."""
    existing = await find_profile(session, vault, e164)
    if existing is not None:
        return existing, False
    profile = Profile(
        phone_key=vault.lookup_key(e164),
        phone_sealed=vault.seal(e164),
        phone_masked=mask_phone(e164),
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(profile)
    except IntegrityError:
        # An order import or another binding created it a moment ago: use theirs.
        raced = await find_profile(session, vault, e164)
        if raced is None:
            raise
        return raced, False
    return profile, True


async def held_by_other_follower(session: AsyncSession, follower: Follower, phone_key: str) -> bool:
    """Whether another follower of the same account is linked to the profile of this phone."""
    assert follower.id is not None
    return await phone_held_by_other_follower(
        session, appid=follower.appid, follower_id=follower.id, phone_key=phone_key
    )


async def open_link(session: AsyncSession, follower_id: int) -> FollowerLink | None:
    """The follower's current link row, if linked."""
    return await open_follower_link(session, follower_id)


async def _close_link(
    session: AsyncSession, follower: Follower, *, actor: str, reason: str, now: datetime
) -> FollowerLink | None:
    assert follower.id is not None
    link = await open_link(session, follower.id)
    if link is not None:
        link.unlinked_at = now
        link.unlinked_by = actor
        link.unlink_reason = reason[:200]
        session.add(link)
    follower.profile_id = None
    follower.updated_at = now
    session.add(follower)
    return link


async def _attach(
    session: AsyncSession, follower: Follower, profile: Profile, *, proof: str, actor: str, now: datetime
) -> None:
    assert follower.id is not None and profile.id is not None
    follower.profile_id = profile.id
    follower.updated_at = now
    session.add(follower)
    session.add(
        FollowerLink(follower_id=follower.id, profile_id=profile.id, linked_at=now, proof_method=proof, actor=actor)
    )
    audit(
        session,
        actor=actor,
        action="identity.linked",
        target=follower_target(follower),
        at=now,
        profile_id=profile.id,
        appid=follower.appid,
        proof=proof,
        phone=profile.phone_masked,
    )
    add_event(session, follower_event(follower, "phone_bound", at=now, payload={"proof": proof}))


async def link_follower(
    session: AsyncSession,
    follower: Follower,
    e164: str,
    *,
    vault: PhoneVault,
    proof: str,
    actor: str,
    now: datetime,
) -> LinkOutcome:
    """Link a follower whose ownership of `e164` was proven by `proof`.

    A follower of the same account holding this phone is unlinked (its history stays); the follower's
    previous profile, if different, is left; followers sharing the unionid join the same profile.
    """
    assert follower.id is not None
    profile, created = await get_or_create_profile(session, vault, e164, now)
    assert profile.id is not None
    outcome = LinkOutcome(profile, created)
    holders = await followers_of_profile(session, profile.id, appid=follower.appid, except_id=follower.id)
    for holder in holders:
        await _close_link(session, holder, actor=actor, reason=f"phone proven by follower:{follower.id}", now=now)
        audit(
            session,
            actor=actor,
            action="identity.relinked_away",
            target=follower_target(holder),
            at=now,
            profile_id=profile.id,
            new_follower_id=follower.id,
            proof=proof,
        )
        outcome.displaced.append(holder)
    if follower.profile_id == profile.id:
        # Proven again for the same phone: nothing moves, but the proof is on record.
        audit(
            session,
            actor=actor,
            action="identity.reproven",
            target=follower_target(follower),
            at=now,
            profile_id=profile.id,
            proof=proof,
        )
    else:
        if follower.profile_id is not None:
            previous = follower.profile_id
            await _close_link(session, follower, actor=actor, reason="bound another phone", now=now)
            audit(
                session,
                actor=actor,
                action="identity.unlinked",
                target=follower_target(follower),
                at=now,
                profile_id=previous,
                reason="bound another phone",
            )
        await _attach(session, follower, profile, proof=proof, actor=actor, now=now)
    outcome.unionid_linked = await link_unionid_siblings(session, follower, profile, now=now)
    await session.flush()
    return outcome


async def link_unionid_siblings(
    session: AsyncSession, follower: Follower, profile: Profile, *, now: datetime
) -> list[Follower]:
    """Link the brand's other followers with this follower's unionid to `profile` (unlinked ones only).

    A sibling already linked to a different profile was proven separately: it is left alone and the
    conflict is audited for an admin.
    """
    if not follower.unionid:
        return []
    siblings = await followers_by_unionids(session, [follower.unionid], except_id=follower.id)
    linked: list[Follower] = []
    for sibling in siblings:
        if sibling.profile_id == profile.id:
            continue
        if sibling.profile_id is not None:
            audit(
                session,
                actor=UNIONID_ACTOR,
                action="identity.unionid_conflict",
                target=follower_target(sibling),
                at=now,
                profile_id=sibling.profile_id,
                other_profile_id=profile.id,
                via_follower_id=follower.id,
            )
            continue
        await _attach(session, sibling, profile, proof=PROOF_UNIONID, actor=UNIONID_ACTOR, now=now)
        linked.append(sibling)
    return linked


async def link_by_unionid(session: AsyncSession, follower: Follower, *, now: datetime) -> Profile | None:
    """For a follower seen for the first time on another account: join the profile its unionid points to.

    Only when every linked sibling agrees on one profile; returns that profile, or None.
    """
    if not follower.unionid or follower.profile_id is not None:
        return None
    assert follower.id is not None
    profile_ids = await linked_profiles_of_unionid(session, follower.unionid, except_id=follower.id)
    if len(profile_ids) != 1:
        return None
    profile = await session.get(Profile, profile_ids.pop())
    if profile is None or profile.erased_at is not None:
        return None
    await _attach(session, follower, profile, proof=PROOF_UNIONID, actor=UNIONID_ACTOR, now=now)
    await session.flush()
    return profile


async def unlink_follower(
    session: AsyncSession, follower: Follower, *, actor: str, reason: str, now: datetime
) -> int | None:
    """Admin unmerge: detach the follower from its profile, keeping the history.

    Returns the id of the profile it was detached from, or None when it was not linked.
    """
    if follower.profile_id is None:
        return None
    previous = follower.profile_id
    await _close_link(session, follower, actor=actor, reason=reason or "admin unlink", now=now)
    audit(
        session,
        actor=actor,
        action="identity.unlinked",
        target=follower_target(follower),
        at=now,
        profile_id=previous,
        reason=reason or "admin unlink",
    )
    await session.flush()
    return previous
