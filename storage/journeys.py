"""The journey engine's queries outside the push outbox (storage.pushes) and the per-batch reads
(storage.journey_runs): journeys and template versions as stored, the people a push is rendered for,
attributions, the scans that find followers for a trigger, and the side effects of a send's outcome.

Plain async functions; the caller owns the session or connection and its transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.consent import Consent
from storage.models.content import Journey, Template, TemplateVersion
from storage.models.core import Follower, Profile
from storage.models.pushes import PushAttribution


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]  # SQLModel sets it on table models


_FOLLOWERS, _PROFILES, _CONSENTS = _table(Follower), _table(Profile), _table(Consent)


# --- journeys and templates ---


async def enabled_journey_rows(session: AsyncSession) -> Sequence[Journey]:
    """The journeys switched on, in id order."""
    statement = select(Journey).where(col(Journey.enabled).is_(True)).order_by(col(Journey.id))
    return (await session.exec(statement)).all()


async def journey_rows(session: AsyncSession, ids: Collection[int]) -> Sequence[Journey]:
    """These journeys, enabled or not."""
    return (await session.exec(select(Journey).where(col(Journey.id).in_(sorted(ids))))).all()


async def has_templates(session: AsyncSession) -> bool:
    return (await session.exec(select(Template.id).limit(1))).first() is not None


async def template_named(session: AsyncSession, name: str) -> Template | None:
    return (await session.exec(select(Template).where(Template.name == name))).first()


async def template_versions(session: AsyncSession, ids: Collection[int]) -> dict[int, TemplateVersion]:
    """These template versions, by id (the missing ones absent)."""
    rows = (await session.exec(select(TemplateVersion).where(col(TemplateVersion.id).in_(sorted(ids))))).all()
    return {row.id: row for row in rows if row.id is not None}


async def people_to_render(
    conn: AsyncConnection, follower_ids: Collection[int]
) -> tuple[dict[int, Follower], dict[int, Profile]]:
    """Followers and their profiles, read with plain SELECTs into detached instances
    (`model_construct`): a renderer only reads them, and is spared the ORM's per-row bookkeeping."""
    rows = await conn.execute(core_select(_FOLLOWERS).where(_FOLLOWERS.c.id.in_(sorted(follower_ids))))
    followers = {row.id: Follower.model_construct(**row._mapping) for row in rows}
    profile_ids = sorted({f.profile_id for f in followers.values() if f.profile_id is not None})
    profiles: dict[int, Profile] = {}
    if profile_ids:
        rows = await conn.execute(core_select(_PROFILES).where(_PROFILES.c.id.in_(profile_ids)))
        profiles = {row.id: Profile.model_construct(**row._mapping) for row in rows}
    return followers, profiles


# --- attribution ---


async def attribution_of_order(session: AsyncSession, *, platform: str, order_no: str) -> PushAttribution | None:
    statement = select(PushAttribution).where(
        PushAttribution.platform == platform, PushAttribution.order_no == order_no
    )
    return (await session.exec(statement)).first()


# --- the scans of the no-purchase and segment triggers ---


async def subscribed_since_with_last_order(
    session: AsyncSession, cutoff: datetime
) -> list[tuple[int, datetime | None, datetime | None]]:
    """(follower id, subscribed at, their profile's last order at) of followers subscribed by `cutoff`."""
    statement = (
        select(Follower.id, Follower.subscribed_at, Profile.last_order_at)
        .outerjoin(Profile, col(Profile.id) == col(Follower.profile_id))
        .where(Follower.status == "subscribed", col(Follower.subscribed_at) <= cutoff)
    )
    return [(fid, sub, last) for fid, sub, last in (await session.exec(statement)).all() if fid is not None]


# --- a send's side effects ---


async def set_follower_status(conn: AsyncConnection, follower_id: int, status: str, *, now: datetime) -> None:
    await conn.execute(update(_FOLLOWERS).where(_FOLLOWERS.c.id == follower_id).values(status=status, updated_at=now))


async def revoke_consent(
    conn: AsyncConnection, *, follower_id: int, profile_id: int | None, purpose: str, source: str, now: datetime
) -> None:
    """Append a withdrawn consent (the history is the record)."""
    await conn.execute(
        insert(_CONSENTS).values(
            follower_id=follower_id, profile_id=profile_id, purpose=purpose, granted=False, text_shown="",
            source=source, at=now,
        )
    )  # fmt: skip
