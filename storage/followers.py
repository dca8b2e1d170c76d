"""Followers as the gateway sees them: found or created by (appid, openid) in one upsert, then updated.

The upserts run through a `GroupCommit` (they are on every callback's path); the `mark_*` functions and
`add_domain_event` work inside the caller's session and leave committing to it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.group_commit import GroupCommit, parse_sqlite_time, sqlite_time
from storage.models.core import DomainEvent, Follower
from storage.types import UTCDateTime

_table = Follower.__table__  # type: ignore[attr-defined]
_TIME_COLUMNS = frozenset(c.name for c in _table.c if isinstance(c.type, UTCDateTime))
_JSON_COLUMNS = frozenset({"tags"})


def _detached(values: dict[str, Any]) -> Follower:
    follower = Follower(**values)
    # Known to the database now: a session it is added to will UPDATE it, never INSERT it again.
    make_transient_to_detached(follower)
    return follower


def _sqlite_value(name: str, value: Any) -> Any:
    if name in _TIME_COLUMNS:
        return parse_sqlite_time(value)
    if name in _JSON_COLUMNS and isinstance(value, str):
        return json.loads(value)
    return value


def _upsert(writer: GroupCommit, values: dict[str, Any], updates: dict[str, Any]) -> Awaitable[Follower]:
    async def engine_step(conn: AsyncConnection) -> Follower:
        # Built only when used: the SQLite path never pays for compiling it.
        statement = postgresql.insert(_table).values(**values)
        # With nothing to change a no-op update still returns the existing row (DO NOTHING would not).
        changes = updates or {"appid": statement.excluded.appid}
        upsert = statement.on_conflict_do_update(index_elements=["appid", "openid"], set_=changes)
        return _detached(dict((await conn.execute(upsert.returning(*_table.c))).one()._mapping))

    names = list(values)
    assignments = ", ".join(f"{name} = excluded.{name}" for name in (updates or {"appid": None}))
    # Column names are this module's own keys (never input), so building the statement text is safe.
    sql = (
        f"INSERT INTO followers ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"  # noqa: S608
        f" ON CONFLICT (appid, openid) DO UPDATE SET {assignments} RETURNING *"
    )
    params = tuple(_to_sqlite(name, values[name]) for name in names)

    def sqlite_step(cursor: sqlite3.Cursor) -> Follower:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        columns = [column[0] for column in cursor.description]
        return _detached({name: _sqlite_value(name, value) for name, value in zip(columns, row, strict=True)})

    return writer.submit(sqlite_step, engine_step)


def _to_sqlite(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return sqlite_time(value)
    if name in _JSON_COLUMNS:
        return json.dumps(value)
    return value


async def record_interaction(
    writer: GroupCommit,
    *,
    appid: str,
    openid: str,
    kind: str,
    at: datetime,
    is_message: bool,
    opens_event_window: bool,
    unionid: str | None = None,
) -> Follower:
    """Create the follower if unknown and stamp this interaction, in one committed statement.

    `is_message` stamps last_message_at (the 48-hour window); `opens_event_window` stamps last_event_at
    (follow, scan and menu click: the 1-minute window). The result is detached: `session.add` it to
    change it further in that session.
    """
    changes: dict[str, Any] = {"last_interaction_at": at, "last_interaction_kind": kind[:40], "updated_at": at}
    if is_message:
        changes["last_message_at"] = at
    if opens_event_window:
        changes["last_event_at"] = at
    if unionid:
        changes["unionid"] = unionid
    values = {"appid": appid, "openid": openid, "tags": [], "status": "subscribed", "created_at": at, **changes}
    return await _upsert(writer, values, changes)


async def ensure_follower(writer: GroupCommit, *, appid: str, openid: str, at: datetime) -> Follower:
    """The follower, created if unknown, without recording an interaction (platform notifications)."""
    values = {"appid": appid, "openid": openid, "tags": [], "status": "subscribed", "created_at": at, "updated_at": at}
    return await _upsert(writer, values, {})


async def find_follower(session: AsyncSession, appid: str, openid: str) -> Follower | None:
    """The follower of `appid` with `openid`, if known."""
    statement = select(Follower).where(Follower.appid == appid, Follower.openid == openid)
    return (await session.exec(statement)).first()


def mark_subscribed(follower: Follower, *, at: datetime, scene: str | None) -> None:
    """A follow (or a come-back): subscribed now; the scene, when given, is the channel of this follow."""
    follower.status = "subscribed"
    follower.subscribed_at = at
    follower.unsubscribed_at = None
    if scene:
        follower.channel_scene = scene[:64]
    follower.updated_at = at


def mark_unsubscribed(follower: Follower, *, at: datetime) -> None:
    follower.status = "unsubscribed"
    follower.unsubscribed_at = at
    follower.updated_at = at


def mark_scanned(follower: Follower, *, at: datetime, scene: str) -> None:
    follower.last_scan_scene = scene[:64] or None
    follower.updated_at = at


def add_domain_event(
    session: AsyncSession, follower: Follower, kind: str, *, at: datetime, payload: dict[str, Any], dedup_key: str
) -> DomainEvent:
    """Queue a domain event about this follower for the journeys (the caller's commit publishes it).

    `dedup_key` is the inbound delivery's key, so the same callback can never publish the event twice.
    """
    event = DomainEvent(
        kind=kind,
        occurred_at=at,
        appid=follower.appid,
        follower_id=follower.id,
        profile_id=follower.profile_id,
        payload=payload,
        dedup_key=f"{kind}:{dedup_key}"[:255],
    )
    session.add(event)
    return event


__all__ = [
    "add_domain_event",
    "ensure_follower",
    "find_follower",
    "mark_scanned",
    "mark_subscribed",
    "mark_unsubscribed",
    "record_interaction",
]
