"""The identity package's queries: SMS codes, consent, profiles and followers by what identifies them,
follower links, order proofs, weak-identity candidates and erasures.

Plain async functions in the caller's session; none commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.consent import Consent
from storage.models.core import AuditEntry, Follower, Profile
from storage.models.identity import Erasure, FollowerLink, IdentityCandidate, SmsCode
from storage.models.orders import Order

# --- SMS codes ---


async def codes_sent_since(
    session: AsyncSession, since: datetime, *, phone_key: str | None = None, follower_id: int | None = None
) -> int:
    """Codes sent strictly after `since` to this phone, or to this follower."""
    where = col(SmsCode.phone_key) == phone_key if phone_key is not None else col(SmsCode.follower_id) == follower_id
    statement = select(func.count()).select_from(SmsCode).where(where, col(SmsCode.sent_at) > since)
    return int((await session.exec(statement)).one())


async def last_code_sent_after(
    session: AsyncSession, since: datetime, *, phone_key: str, follower_id: int
) -> datetime | None:
    """When the latest code after `since` went to this phone or this follower."""
    same_subject = or_(col(SmsCode.phone_key) == phone_key, col(SmsCode.follower_id) == follower_id)
    statement = select(func.max(SmsCode.sent_at)).where(same_subject, col(SmsCode.sent_at) > since)
    last: datetime | None = (await session.exec(statement)).one()
    return last


async def newest_unused_code(session: AsyncSession, *, follower_id: int, phone_key: str) -> SmsCode | None:
    statement = (
        select(SmsCode)
        .where(SmsCode.follower_id == follower_id, SmsCode.phone_key == phone_key, col(SmsCode.used_at).is_(None))
        .order_by(col(SmsCode.id).desc())
        .limit(1)
    )
    return (await session.exec(statement)).first()


# --- consent ---


async def latest_consent(session: AsyncSession, follower_id: int, purpose: str) -> Consent | None:
    statement = (
        select(Consent)
        .where(Consent.follower_id == follower_id, Consent.purpose == purpose)
        .order_by(col(Consent.id).desc())
        .limit(1)
    )
    return (await session.exec(statement)).first()


# --- profiles and followers ---


async def profile_by_phone_key(session: AsyncSession, phone_key: str) -> Profile | None:
    return (await session.exec(select(Profile).where(Profile.phone_key == phone_key))).first()


async def followers_by_openid(session: AsyncSession, openid: str, *, appid: str | None = None) -> list[Follower]:
    statement = select(Follower).where(Follower.openid == openid)
    if appid:
        statement = statement.where(Follower.appid == appid)
    return list((await session.exec(statement)).all())


async def followers_of_profile(
    session: AsyncSession,
    profile_id: int,
    *,
    appid: str | None = None,
    except_id: int | None = None,
    limit: int | None = None,
) -> list[Follower]:
    """The followers linked to a profile now, in id order (optionally of one account, but one)."""
    statement = select(Follower).where(Follower.profile_id == profile_id)
    if appid is not None:
        statement = statement.where(Follower.appid == appid)
    if except_id is not None:
        statement = statement.where(Follower.id != except_id)
    statement = statement.order_by(col(Follower.id))
    if limit is not None:
        statement = statement.limit(limit)
    return list((await session.exec(statement)).all())


async def recent_buyers(session: AsyncSession, limit: int) -> list[Profile]:
    """Profiles not erased, latest order first."""
    statement = (
        select(Profile)
        .where(col(Profile.erased_at).is_(None))
        .order_by(col(Profile.last_order_at).desc(), col(Profile.id).desc())
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def followers_by_unionids(
    session: AsyncSession, unionids: Iterable[str], *, except_id: int | None = None
) -> list[Follower]:
    statement = select(Follower).where(col(Follower.unionid).in_(sorted(set(unionids))))
    if except_id is not None:
        statement = statement.where(Follower.id != except_id)
    return list((await session.exec(statement.order_by(col(Follower.id)))).all())


async def linked_profiles_of_unionid(session: AsyncSession, unionid: str, *, except_id: int) -> set[int]:
    """The profiles the other followers with this unionid are linked to."""
    statement = select(Follower.profile_id).where(
        Follower.unionid == unionid, Follower.id != except_id, col(Follower.profile_id).is_not(None)
    )
    return {profile_id for profile_id in (await session.exec(statement)).all() if profile_id is not None}


async def phone_held_by_other_follower(session: AsyncSession, *, appid: str, follower_id: int, phone_key: str) -> bool:
    """Whether another follower of the account is linked to the profile of this phone."""
    statement = (
        select(Follower.id)
        .join(Profile, col(Profile.id) == col(Follower.profile_id))
        .where(Profile.phone_key == phone_key, Follower.appid == appid, Follower.id != follower_id)
        .limit(1)
    )
    return (await session.exec(statement)).first() is not None


async def open_follower_link(session: AsyncSession, follower_id: int) -> FollowerLink | None:
    statement = select(FollowerLink).where(
        FollowerLink.follower_id == follower_id, col(FollowerLink.unlinked_at).is_(None)
    )
    return (await session.exec(statement)).first()


async def accounts_missing_unionids(session: AsyncSession) -> list[str]:
    """The accounts with subscribed followers whose unionid is not known."""
    statement = (
        select(Follower.appid).where(col(Follower.unionid).is_(None), Follower.status == "subscribed").distinct()
    )
    return list((await session.exec(statement)).all())


async def followers_missing_unionid(session: AsyncSession, appid: str, *, after_id: int, limit: int) -> list[Follower]:
    """Subscribed followers of the account without a unionid, after `after_id` in id order."""
    statement = (
        select(Follower)
        .where(
            Follower.appid == appid,
            col(Follower.unionid).is_(None),
            Follower.status == "subscribed",
            col(Follower.id) > after_id,
        )
        .order_by(col(Follower.id))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


# --- orders as proof, weak identities ---


async def profile_orders_newest_first(session: AsyncSession, phone_key: str) -> list[Order] | None:
    """The orders of the profile keyed by `phone_key`, latest first; None when no profile has the key."""
    profile_id = (await session.exec(select(Profile.id).where(Profile.phone_key == phone_key))).first()
    if profile_id is None:
        return None
    statement = (
        select(Order)
        .where(Order.profile_id == profile_id)
        .order_by(col(Order.ordered_at).desc().nulls_last(), col(Order.id).desc())
    )
    return list((await session.exec(statement)).all())


async def orders_of_profile(session: AsyncSession, profile_id: int) -> list[Order]:
    return list((await session.exec(select(Order).where(Order.profile_id == profile_id))).all())


async def audit_entries_since(session: AsyncSession, *, action: str, target: str, since: datetime) -> int:
    """Audit entries of this action on this target at or after `since`."""
    statement = (
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == action, AuditEntry.target == target, col(AuditEntry.at) >= since)
    )
    return int((await session.exec(statement)).one())


async def weak_match_pairs(session: AsyncSession, *, strong_kind: str) -> list[tuple[int, int]]:
    """(order id, profile id) of unlinked orders whose non-`strong_kind` phone hint shows the last four
    digits of a profile's number, with that profile's receiver name and city."""
    last4 = func.substr(Profile.phone_masked, func.length(Profile.phone_masked) - 3, 4)
    statement = (
        select(Order.id, Profile.id)
        .join(
            Profile,
            (last4 == col(Order.hint_last4))
            & (col(Profile.name) == col(Order.receiver_name))
            & (col(Profile.city) == col(Order.receiver_city)),
        )
        .where(
            col(Order.profile_id).is_(None),
            col(Order.hint_last4).is_not(None),
            col(Order.hint_kind).is_not(None),
            col(Order.hint_kind) != strong_kind,
            col(Profile.erased_at).is_(None),
        )
    )
    return [(o, p) for o, p in (await session.exec(statement)).all() if o is not None and p is not None]


async def candidate_pairs(session: AsyncSession) -> set[tuple[int, int]]:
    statement = select(IdentityCandidate.order_id, IdentityCandidate.profile_id)
    return set((await session.exec(statement)).all())


async def candidates_with_order_and_profile(
    session: AsyncSession, *, status: str | None
) -> Sequence[tuple[IdentityCandidate, Order, Profile]]:
    statement = (
        select(IdentityCandidate, Order, Profile)
        .join(Order, col(Order.id) == col(IdentityCandidate.order_id))
        .join(Profile, col(Profile.id) == col(IdentityCandidate.profile_id))
        .order_by(col(IdentityCandidate.id))
    )
    if status is not None:
        statement = statement.where(IdentityCandidate.status == status)
    return (await session.exec(statement)).all()


async def other_candidates_of_order(
    session: AsyncSession, *, order_id: int, except_id: int, status: str
) -> list[IdentityCandidate]:
    statement = select(IdentityCandidate).where(
        IdentityCandidate.order_id == order_id, IdentityCandidate.id != except_id, IdentityCandidate.status == status
    )
    return list((await session.exec(statement)).all())


# --- erasures ---


async def erasure_recorded(session: AsyncSession, subject_hash: str) -> bool:
    statement = select(Erasure.id).where(col(Erasure.subject_hash) == subject_hash)
    return (await session.exec(statement)).first() is not None
