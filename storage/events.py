"""Writing domain events: the one way every producer queues what happened for the journeys.

An event is a `NewEvent` value. Where it is written depends on the writer's transaction, not on the
event: `add_event` in an ORM session (commits with the caller's work), `insert_events` on a Core
connection, `events_write` through the group commit (the callback path, after the reply), and
`insert_event_once` in a short transaction of its own (the periodic scans). A `dedup_key` is unique
among events: with `once=True` an event whose key is already there is skipped, never an error.

Order imports write their events in bulk with the orders (storage.orders); the journeys read and claim
events in storage.journey_runs and journeys.enrolment.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Database
from storage.formats import utc_text
from storage.group_commit import Write
from storage.models.core import DomainEvent, Follower

EVENTS = cast(Table, DomainEvent.__table__)  # type: ignore[attr-defined]
_COLUMNS = ("kind", "occurred_at", "appid", "follower_id", "profile_id", "payload", "dedup_key")
_DEDUP_KEY_LENGTH = 255


@dataclass(frozen=True)
class NewEvent:
    """A domain event to write (see storage.models.core.DomainEvent for the kinds)."""

    kind: str
    occurred_at: datetime
    appid: str | None = None
    follower_id: int | None = None
    profile_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    dedup_key: str | None = None

    def values(self) -> dict[str, Any]:
        key = self.dedup_key[:_DEDUP_KEY_LENGTH] if self.dedup_key is not None else None
        return {
            "kind": self.kind,
            "occurred_at": self.occurred_at,
            "appid": self.appid,
            "follower_id": self.follower_id,
            "profile_id": self.profile_id,
            "payload": self.payload,
            "dedup_key": key,
        }


def follower_event(
    follower: Follower, kind: str, *, at: datetime, payload: dict[str, Any] | None = None, dedup_key: str | None = None
) -> NewEvent:
    """An event about this follower (and the profile it is linked to now)."""
    return NewEvent(
        kind=kind,
        occurred_at=at,
        appid=follower.appid,
        follower_id=follower.id,
        profile_id=follower.profile_id,
        payload=payload or {},
        dedup_key=dedup_key,
    )


def add_event(session: AsyncSession, event: NewEvent) -> DomainEvent:
    """Queue the event in the caller's session; their commit publishes it."""
    row = DomainEvent(**event.values())
    session.add(row)
    return row


def _insert(conn: AsyncConnection, once: bool) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(EVENTS)
    return statement.on_conflict_do_nothing(index_elements=["dedup_key"]) if once else statement


async def insert_events(conn: AsyncConnection, events: Sequence[NewEvent], *, once: bool = False) -> None:
    """Insert the events in one statement on the caller's connection (and transaction)."""
    if events:
        await conn.execute(_insert(conn, once), [event.values() for event in events])


async def insert_event_once(db: Database, event: NewEvent) -> bool:
    """Insert the event in a transaction of its own; False when its `dedup_key` was already there."""
    async with db.engine.begin() as conn:
        result = await conn.execute(_insert(conn, True).values(event.values()))
    return bool(result.rowcount == 1)


_SQLITE_INSERT = f"INSERT INTO domain_events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608 - fixed columns
_PG_INSERT = f"INSERT INTO domain_events ({', '.join(_COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)"  # noqa: S608 - fixed columns
_ONCE = " ON CONFLICT (dedup_key) DO NOTHING"


def sqlite_insert_events(cursor: sqlite3.Cursor, events: Sequence[NewEvent], *, once: bool = False) -> None:
    """Insert the events on a plain sqlite3 cursor (the group commit's own connection)."""
    rows = []
    for event in events:
        values = event.values()
        values.update(occurred_at=utc_text(event.occurred_at), payload=json.dumps(event.payload))
        rows.append(tuple(values[name] for name in _COLUMNS))
    if rows:
        cursor.executemany(_SQLITE_INSERT + (_ONCE if once else ""), rows)


async def driver_insert_events(connection: Any, events: Sequence[NewEvent], *, once: bool = False) -> None:
    """Insert the events on an asyncpg connection (and its transaction), pipelined in one round trip."""
    rows = []
    for event in events:
        values = event.values()
        values["payload"] = json.dumps(event.payload)
        rows.append(tuple(values[name] for name in _COLUMNS))
    if rows:
        await connection.executemany(_PG_INSERT + (_ONCE if once else ""), rows)


def events_write(events: Sequence[NewEvent], *, once: bool = False) -> Write[None]:
    """The events as a group-commit write: one statement on whichever connection the commit uses."""

    def sqlite_step(cursor: sqlite3.Cursor) -> None:
        sqlite_insert_events(cursor, events, once=once)

    async def engine_step(conn: AsyncConnection) -> None:
        await insert_events(conn, events, once=once)

    async def driver_step(connection: Any) -> None:
        await driver_insert_events(connection, events, once=once)

    return Write(sqlite_step, engine_step, driver_step)
