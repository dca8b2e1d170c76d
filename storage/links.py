"""Tracked links' SQL: the signing key, what a click needs to know, and recording clicks.

Clicks are written in groups (publishing.clicks.ClickRecorder): one transaction per group, each click an
INSERT that does nothing when the same visitor already opened the same delivery's link.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from storage.db import Database
from storage.models.consent import Consent
from storage.models.content import TemplateVersion
from storage.models.core import DomainEvent, Follower
from storage.models.links import LinkClick, LinkKey
from storage.models.pushes import MassSend, Push


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]  # SQLModel sets it on table models


CLICKS = _table(LinkClick)
KEYS = _table(LinkKey)
FOLLOWERS = _table(Follower)
CONSENTS = _table(Consent)
PUSHES = _table(Push)
EVENTS = _table(DomainEvent)


@dataclass(frozen=True)
class FollowerState:
    """What a click asks about a follower: who they are, and whether they were erased or still consent."""

    id: int
    appid: str
    openid: str
    status: str
    profile_id: int | None


async def load_link_key(db: Database, now: datetime) -> bytes:
    """The stored signing key, made on first use (the first process to ask writes it, the others read it)."""
    async with db.engine.begin() as conn:
        row = (await conn.execute(select(KEYS.c.key_hex).where(KEYS.c.id == 1))).first()
        if row is None:
            dialect = postgresql if db.is_postgres else sqlite
            statement = dialect.insert(KEYS).values(id=1, key_hex=secrets.token_hex(32), created_at=now)
            await conn.execute(statement.on_conflict_do_nothing(index_elements=["id"]))
            row = (await conn.execute(select(KEYS.c.key_hex).where(KEYS.c.id == 1))).one()
    return bytes.fromhex(str(row[0]))


async def version_body(db: Database, version_id: int) -> dict[str, Any] | None:
    """The body document of a template version (published versions never change)."""
    table = _table(TemplateVersion)
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(table.c.body).where(table.c.id == version_id))).first()
    return None if row is None else dict(row[0])


def _state(row: Any) -> FollowerState:
    return FollowerState(row.id, row.appid, row.openid, row.status, row.profile_id)


_STATE_COLUMNS = (FOLLOWERS.c.id, FOLLOWERS.c.appid, FOLLOWERS.c.openid, FOLLOWERS.c.status, FOLLOWERS.c.profile_id)


async def follower_state(db: Database, follower_id: int) -> FollowerState | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(*_STATE_COLUMNS).where(FOLLOWERS.c.id == follower_id))).first()
    return None if row is None else _state(row)


async def follower_by_openid(db: Database, appid: str, openid: str) -> FollowerState | None:
    async with db.engine.connect() as conn:
        statement = select(*_STATE_COLUMNS).where(FOLLOWERS.c.appid == appid, FOLLOWERS.c.openid == openid)
        row = (await conn.execute(statement)).first()
    return None if row is None else _state(row)


async def mass_send_appid(db: Database, mass_send_id: int) -> str | None:
    table = _table(MassSend)
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(table.c.appid).where(table.c.id == mass_send_id))).first()
    return None if row is None else str(row[0])


async def push_steps(conn: AsyncConnection, push_ids: Sequence[int]) -> dict[int, tuple[int | None, str]]:
    """The journey and step key of each push."""
    if not push_ids:
        return {}
    wanted = PUSHES.c.id.in_(sorted(set(push_ids)))
    statement = select(PUSHES.c.id, PUSHES.c.journey_id, PUSHES.c.step_key).where(wanted)
    return {row.id: (row.journey_id, row.step_key) for row in await conn.execute(statement)}


async def marketing_consents(conn: AsyncConnection, follower_ids: Sequence[int]) -> dict[int, bool]:
    """Each follower's marketing consent in force (absent: never given)."""
    if not follower_ids:
        return {}
    newest = (
        select(func.max(CONSENTS.c.id))
        .where(CONSENTS.c.follower_id.in_(sorted(set(follower_ids))), CONSENTS.c.purpose == "marketing")
        .group_by(CONSENTS.c.follower_id)
    )
    rows = await conn.execute(select(CONSENTS.c.follower_id, CONSENTS.c.granted).where(CONSENTS.c.id.in_(newest)))
    return {row.follower_id: bool(row.granted) for row in rows}


async def follower_states(conn: AsyncConnection, follower_ids: Sequence[int]) -> dict[int, FollowerState]:
    """The followers a group of clicks names, by id."""
    if not follower_ids:
        return {}
    statement = select(*_STATE_COLUMNS).where(FOLLOWERS.c.id.in_(follower_ids))
    return {row.id: _state(row) for row in await conn.execute(statement)}


ClickKey = tuple[str, int, int, str | None]


async def insert_clicks(conn: AsyncConnection, postgres: bool, rows: Sequence[dict[str, Any]]) -> set[ClickKey]:
    """Record clicks in one statement; returns the keys of those inserted (a visitor's repeat is not)."""
    if not rows:
        return set()
    dialect = postgresql if postgres else sqlite
    statement = (
        dialect.insert(CLICKS)
        .on_conflict_do_nothing(index_elements=["delivery_kind", "delivery_id", "link_index", "visitor"])
        .returning(CLICKS.c.delivery_kind, CLICKS.c.delivery_id, CLICKS.c.link_index, CLICKS.c.visitor)
    )
    result = await conn.execute(statement, list(rows))
    return {(row[0], row[1], row[2], row[3]) for row in result}


async def insert_click_events(conn: AsyncConnection, events: Sequence[dict[str, Any]]) -> None:
    """`link_clicked` domain events on the openers' timelines (journeys may react to them)."""
    if events:
        await conn.execute(insert(EVENTS), list(events))


async def clicks_of(db: Database, *, delivery_kind: str, delivery_id: int) -> list[dict[str, Any]]:
    """The recorded clicks of one delivery, oldest first (reports and tests)."""
    statement = (
        select(CLICKS)
        .where(CLICKS.c.delivery_kind == delivery_kind, CLICKS.c.delivery_id == delivery_id)
        .order_by(CLICKS.c.id)
    )
    async with db.engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(statement)).mappings()]


__all__ = [
    "FollowerState",
    "clicks_of",
    "follower_by_openid",
    "follower_state",
    "follower_states",
    "insert_click_events",
    "insert_clicks",
    "load_link_key",
    "marketing_consents",
    "mass_send_appid",
    "push_steps",
    "version_body",
]
