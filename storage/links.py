"""Tracked links' SQL: the signing key, what a click needs to know, and recording clicks.

Clicks are written in groups (identity.link_clicks.ClickRecorder) through the callbacks' group commit
(storage.group_commit): on SQLite a group is one step on its dedicated connection, sharing a transaction
with the callbacks' writes; on PostgreSQL one transaction straight on the driver (asyncpg), as the
callbacks' claims are: a group is small and frequent, so SQLAlchemy's work per statement would cost more
than the database's. A click is an INSERT that does nothing when the same visitor already opened the
same delivery's link.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from storage.db import Database
from storage.events import NewEvent, driver_insert_events, insert_events, sqlite_insert_events
from storage.formats import utc_text
from storage.group_commit import group_commit
from storage.models.consent import Consent
from storage.models.content import TemplateVersion
from storage.models.core import Follower
from storage.models.links import LinkClick, LinkKey
from storage.models.pushes import MassSend, Push


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]  # SQLModel sets it on table models


CLICKS = _table(LinkClick)
KEYS = _table(LinkKey)
FOLLOWERS = _table(Follower)
CONSENTS = _table(Consent)
PUSHES = _table(Push)


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


async def insert_clicks(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> set[ClickKey]:
    """Record clicks in one statement; returns the keys of those inserted (a visitor's repeat is not)."""
    if not rows:
        return set()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(CLICKS)
        .on_conflict_do_nothing(index_elements=["delivery_kind", "delivery_id", "link_index", "visitor"])
        .returning(CLICKS.c.delivery_kind, CLICKS.c.delivery_id, CLICKS.c.link_index, CLICKS.c.visitor)
    )
    result = await conn.execute(statement, list(rows))
    return {(row[0], row[1], row[2], row[3]) for row in result}


async def insert_click_events(conn: AsyncConnection, events: Sequence[NewEvent]) -> None:
    """`link_clicked` domain events on the openers' timelines (journeys may react to them)."""
    if events:
        await insert_events(conn, events)


@dataclass(frozen=True)
class GroupFacts:
    """What deciding about a group of clicks needs: the recipients named, the pushes' steps, consents."""

    recipients: dict[int, FollowerState]
    steps: dict[int, tuple[int | None, str]]
    consents: dict[int, bool]


# Given the facts, the click rows to insert; given the keys inserted, the domain events to add.
PlanClicks = Callable[[GroupFacts], list[dict[str, Any]]]
EventsFor = Callable[[set[ClickKey]], list[NewEvent]]


async def write_click_group(
    db: Database,
    *,
    follower_ids: Sequence[int],
    push_ids: Sequence[int],
    opener_ids: Sequence[int],
    plan: PlanClicks,
    events_for: EventsFor,
) -> None:
    """Read the group's facts, insert the clicks `plan` decides and the events `events_for` asks, committed.

    `plan` and `events_for` are plain functions (on SQLite they run in the group commit's thread), and
    may run twice when the shared transaction is retried.
    """
    followers, pushes, openers = sorted(set(follower_ids)), sorted(set(push_ids)), sorted(set(opener_ids))

    async def engine_step(conn: AsyncConnection) -> None:
        facts = GroupFacts(
            await follower_states(conn, followers),
            await push_steps(conn, pushes),
            await marketing_consents(conn, openers),
        )
        inserted = await insert_clicks(conn, plan(facts))
        await insert_click_events(conn, events_for(inserted))

    def sqlite_step(cursor: sqlite3.Cursor) -> None:
        facts = GroupFacts(_sqlite_followers(cursor, followers), _sqlite_steps(cursor, pushes), {})
        if openers:
            facts = GroupFacts(facts.recipients, facts.steps, _sqlite_consents(cursor, openers))
        inserted: set[ClickKey] = set()
        for row in plan(facts):
            cursor.execute(_SQLITE_CLICK, _sqlite_click_params(row))
            found = cursor.fetchone()
            if found is not None:
                inserted.add((found[0], found[1], found[2], found[3]))
        sqlite_insert_events(cursor, events_for(inserted))

    async def driver_step(connection: Any) -> None:
        async with connection.transaction():
            facts = GroupFacts(
                await _pg_followers(connection, followers),
                await _pg_steps(connection, pushes),
                await _pg_consents(connection, openers),
            )
            inserted = await _pg_insert_clicks(connection, plan(facts))
            await driver_insert_events(connection, events_for(inserted))

    await group_commit(db).submit(sqlite_step, engine_step, driver_step)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _sqlite_followers(cursor: sqlite3.Cursor, ids: list[int]) -> dict[int, FollowerState]:
    if not ids:
        return {}
    cursor.execute(f"SELECT id, appid, openid, status, profile_id FROM followers WHERE id IN ({_marks(len(ids))})", ids)  # noqa: S608 - placeholders only
    return {row[0]: FollowerState(*row) for row in cursor.fetchall()}


def _sqlite_steps(cursor: sqlite3.Cursor, ids: list[int]) -> dict[int, tuple[int | None, str]]:
    if not ids:
        return {}
    cursor.execute(f"SELECT id, journey_id, step_key FROM pushes WHERE id IN ({_marks(len(ids))})", ids)  # noqa: S608 - placeholders only
    return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}


def _sqlite_consents(cursor: sqlite3.Cursor, ids: list[int]) -> dict[int, bool]:
    cursor.execute(
        "SELECT follower_id, granted FROM consents WHERE id IN (SELECT max(id) FROM consents"  # noqa: S608 - placeholders only
        f" WHERE purpose = 'marketing' AND follower_id IN ({_marks(len(ids))}) GROUP BY follower_id)",
        ids,
    )
    return {row[0]: bool(row[1]) for row in cursor.fetchall()}


_CLICK_COLUMNS = (
    "delivery_kind", "delivery_id", "template_version_id", "link_index", "target", "follower_id", "profile_id",
    "journey_id", "step_key", "visitor", "via", "forwarded", "clicked_at",
)  # fmt: skip
_SQLITE_CLICK = (
    f"INSERT INTO link_clicks ({', '.join(_CLICK_COLUMNS)}) VALUES ({_marks(len(_CLICK_COLUMNS))})"  # noqa: S608 - fixed columns
    " ON CONFLICT (delivery_kind, delivery_id, link_index, visitor) DO NOTHING"
    " RETURNING delivery_kind, delivery_id, link_index, visitor"
)


_PG_CLICK = (
    f"INSERT INTO link_clicks ({', '.join(_CLICK_COLUMNS)}) SELECT * FROM unnest("  # noqa: S608 - fixed columns
    "$1::text[], $2::bigint[], $3::int[], $4::int[], $5::text[], $6::int[], $7::int[], $8::int[], $9::text[],"
    " $10::text[], $11::text[], $12::bool[], $13::timestamptz[])"
    " ON CONFLICT (delivery_kind, delivery_id, link_index, visitor) DO NOTHING"
    " RETURNING delivery_kind, delivery_id, link_index, visitor"
)


async def _pg_followers(connection: Any, ids: list[int]) -> dict[int, FollowerState]:
    if not ids:
        return {}
    found = await connection.fetch(
        "SELECT id, appid, openid, status, profile_id FROM followers WHERE id = ANY($1)", ids
    )
    return {row[0]: FollowerState(*row) for row in found}


async def _pg_steps(connection: Any, ids: list[int]) -> dict[int, tuple[int | None, str]]:
    if not ids:
        return {}
    found = await connection.fetch("SELECT id, journey_id, step_key FROM pushes WHERE id = ANY($1)", ids)
    return {row[0]: (row[1], row[2]) for row in found}


async def _pg_consents(connection: Any, ids: list[int]) -> dict[int, bool]:
    if not ids:
        return {}
    found = await connection.fetch(
        "SELECT follower_id, granted FROM consents WHERE id IN (SELECT max(id) FROM consents"
        " WHERE purpose = 'marketing' AND follower_id = ANY($1) GROUP BY follower_id)",
        ids,
    )
    return {row[0]: bool(row[1]) for row in found}


async def _pg_insert_clicks(connection: Any, rows: list[dict[str, Any]]) -> set[ClickKey]:
    """The clicks in one statement (a column array each); the keys of those inserted."""
    if not rows:
        return set()
    columns = [[row[name] for row in rows] for name in _CLICK_COLUMNS]
    found = await connection.fetch(_PG_CLICK, *columns)
    return {(row[0], row[1], row[2], row[3]) for row in found}


def _sqlite_click_params(row: dict[str, Any]) -> tuple[Any, ...]:
    values = {**row, "clicked_at": utc_text(row["clicked_at"]), "forwarded": int(bool(row["forwarded"]))}
    return tuple(values[name] for name in _CLICK_COLUMNS)


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
    "GroupFacts",
    "follower_states",
    "insert_click_events",
    "insert_clicks",
    "load_link_key",
    "marketing_consents",
    "mass_send_appid",
    "push_steps",
    "version_body",
    "write_click_group",
]
