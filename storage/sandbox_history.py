"""What the demo's database remembers of the sandbox's followers, read when the sandbox page restarts.

The simulator keeps its followers and chats in memory; after a restart it rebuilds them from the
followers of its account, the deliveries the callback ledger still holds (`storage.inbound.RETENTION`)
and the pushes sent to them, with what those were rendered from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.content import CouponCode, TemplateVersion
from storage.models.core import Follower, InboundEvent, Profile
from storage.models.pushes import Push

# The chat shows the last 200 entries of a follower; more pushes than this in all is a soak, not a demo.
MAX_PUSHES = 5000


@dataclass(frozen=True)
class SentPush:
    """A push that went out, with what it was rendered from."""

    push: Push
    body: dict[str, Any]
    coupon_code: str | None


async def followers_of(session: AsyncSession, appid: str) -> list[tuple[Follower, Profile | None]]:
    """Every follower of `appid`, oldest first, with the profile it is linked to."""
    statement = (
        select(Follower, Profile)
        .join(Profile, col(Profile.id) == col(Follower.profile_id), isouter=True)
        .where(col(Follower.appid) == appid)
        .order_by(col(Follower.created_at), col(Follower.id))
    )
    return [(follower, profile) for follower, profile in (await session.exec(statement)).all()]


async def deliveries_of(session: AsyncSession, appid: str) -> list[InboundEvent]:
    """The callbacks of `appid` the ledger still holds (its purge keeps a day), in the order they came."""
    statement = (
        select(InboundEvent)
        .where(col(InboundEvent.appid) == appid)
        .order_by(col(InboundEvent.received_at), col(InboundEvent.id))
    )
    return list((await session.exec(statement)).all())


async def sent_pushes_of(session: AsyncSession, appid: str) -> list[SentPush]:
    """The newest MAX_PUSHES pushes sent to followers of `appid`, oldest first, with their bodies and codes."""
    statement = (
        select(Push, TemplateVersion.body)
        .join(TemplateVersion, col(TemplateVersion.id) == col(Push.template_version_id))
        .where(col(Push.appid) == appid, col(Push.status) == "sent")
        .order_by(col(Push.sent_at).desc(), col(Push.id).desc())
        .limit(MAX_PUSHES)
    )
    rows = list((await session.exec(statement)).all())
    ids = [push.id for push, _body in rows if push.id is not None]
    codes: dict[int, str] = {}
    if ids:
        drawn = select(CouponCode.claimed_by_push_id, CouponCode.code).where(
            col(CouponCode.claimed_by_push_id).in_(ids)
        )
        codes = {int(push_id): code for push_id, code in (await session.exec(drawn)).all() if push_id is not None}
    return [SentPush(push, dict(body), codes.get(push.id or 0)) for push, body in reversed(rows)]
