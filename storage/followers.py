"""Followers as the gateway sees them: found or created by (appid, openid) in one upsert, then updated.

The upserts run through a `GroupCommit` (they are on every callback's path); the `mark_*` functions change
a follower in the caller's session and leave committing to it.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.formats import utc_text
from storage.group_commit import ChainedBatch, ChainedStatement, GroupCommit, Write, parse_sqlite_time
from storage.models.core import Follower
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


@dataclass(frozen=True)
class FollowerRecord:
    """A follower row as the upsert returned it.

    Cheap to make (on SQLite the values are the raw column values); `model()` builds the ORM object, which
    costs far more than the write itself, only for the handlers that need it.
    """

    values: dict[str, Any]
    from_sqlite: bool = False
    # What else waits for this follower, read in the same transaction as the write (see `_situation`):
    # the callback path skips the held-push delivery and the conversation lease when nothing is there.
    has_waiting_pushes: bool = True
    in_conversation: bool = True

    @property
    def id(self) -> int:
        return int(self.values["id"])

    @property
    def unionid(self) -> str | None:
        unionid: str | None = self.values.get("unionid")
        return unionid

    @property
    def profile_id(self) -> int | None:
        profile_id: int | None = self.values.get("profile_id")
        return profile_id

    def model(self) -> Follower:
        """A new detached `Follower` with these values: `session.add` it to change it."""
        values = self.values
        if self.from_sqlite:
            values = {name: _sqlite_value(name, value) for name, value in values.items()}
        return _detached(values)


# Held pushes, and pending ones already due, wait for the follower's next interaction (journeys.wake); a
# conversation row with a flow is a binding in progress. Both are index lookups, read with the write.
_SITUATION_SQL = (
    "SELECT EXISTS (SELECT 1 FROM pushes WHERE follower_id = :id AND (status = 'held'"
    " OR (status = 'pending' AND due_at <= :now))),"
    " EXISTS (SELECT 1 FROM conversation_states WHERE appid = :appid AND openid = :openid AND flow IS NOT NULL)"
)


@functools.lru_cache(maxsize=1)
def _pg_types() -> dict[str, str]:
    """Each column's PostgreSQL type, to cast parameters that arrive through a SELECT rather than VALUES."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return {column.name: column.type.compile(dialect=dialect) for column in _table.c}


@functools.lru_cache(maxsize=64)
def _pg_upsert_sql(
    names: tuple[str, ...], updated: tuple[str, ...], at: int, before: str = "", guard: str = "", first: int = 1
) -> str:
    """The upsert and the follower's situation in one statement; `at` is the position of the moment.

    With `guard` (see `ChainedStatement`) the row is written only when the CTE `guard`, defined in
    `before`, returned one, and the result carries that row's id as `guard_id_`.
    """
    assignments = ", ".join(f"{name} = excluded.{name}" for name in updated)
    numbers = range(first, first + len(names))
    # Column names, `before` and `guard` are this module's and storage's own text (never input), so
    # building the statement text is safe.
    if guard:
        # Parameters in a SELECT list have no column to take their type from: cast them.
        types = _pg_types()
        casts = ", ".join(f"${n}::{types[name]}" for n, name in zip(numbers, names, strict=True))
        source = f" SELECT {casts} WHERE EXISTS (SELECT 1 FROM {guard})"  # noqa: S608
        lead, carried = f"WITH {before}, ", f"(SELECT id FROM {guard}) AS guard_id_, "  # noqa: S608
    else:
        source = f" VALUES ({', '.join(f'${n}' for n in numbers)})"
        lead, carried = "WITH ", ""
    return (
        f"{lead}f AS (INSERT INTO followers ({', '.join(names)}){source}"  # noqa: S608
        f" ON CONFLICT (appid, openid) DO UPDATE SET {assignments} RETURNING *)"
        f" SELECT {carried}f.*, EXISTS (SELECT 1 FROM pushes WHERE follower_id = f.id AND (status = 'held'"
        f" OR (status = 'pending' AND due_at <= ${first + at - 1}))) AS waiting_pushes_,"
        " EXISTS (SELECT 1 FROM conversation_states WHERE appid = f.appid AND openid = f.openid"
        " AND flow IS NOT NULL) AS in_conversation_ FROM f"
    )


@functools.lru_cache(maxsize=64)
def _pg_batch_sql(names: tuple[str, ...], updated: tuple[str, ...], before: str, guard: str) -> str:
    """`_pg_upsert_sql` for many followers at once (see `ChainedBatch`): one row each in `input_`."""
    assignments = ", ".join(f"{name} = excluded.{name}" for name in updated)
    # In one order in every statement, so two processes' statements lock shared followers in one order.
    return (
        f"WITH {before}, f AS (INSERT INTO followers ({', '.join(names)})"  # noqa: S608 - see _pg_upsert_sql
        f" SELECT {', '.join(f'i.w_{name}' for name in names)} FROM input_ i JOIN {guard} USING (key_)"
        f" ORDER BY i.w_appid, i.w_openid ON CONFLICT (appid, openid) DO UPDATE SET {assignments} RETURNING *)"
        f" SELECT i.key_, g.id AS guard_id_, f.*, EXISTS (SELECT 1 FROM pushes WHERE follower_id = f.id"
        " AND (status = 'held' OR (status = 'pending' AND due_at <= i.w_updated_at))) AS waiting_pushes_,"
        " EXISTS (SELECT 1 FROM conversation_states WHERE appid = f.appid AND openid = f.openid"
        f" AND flow IS NOT NULL) AS in_conversation_ FROM input_ i JOIN {guard} g USING (key_)"
        " JOIN f ON f.appid = i.w_appid AND f.openid = i.w_openid"
    )


@functools.lru_cache(maxsize=64)
def _batch_columns(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The `input_` columns of a batched upsert of these columns, with their PostgreSQL types."""
    types = _pg_types()
    return tuple((f"w_{name}", types[name]) for name in names)


def _record_from_pg_row(row: Any) -> FollowerRecord:
    found = dict(row)
    for carried in ("guard_id_", "key_"):
        found.pop(carried, None)
    waiting, talking = found.pop("waiting_pushes_"), found.pop("in_conversation_")
    return FollowerRecord(found, has_waiting_pushes=bool(waiting), in_conversation=bool(talking))


@functools.lru_cache(maxsize=64)
def _upsert_sql(names: tuple[str, ...], updated: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{name} = excluded.{name}" for name in updated)
    # Column names are this module's own keys (never input), so building the statement text is safe.
    return (
        f"INSERT INTO followers ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"  # noqa: S608
        f" ON CONFLICT (appid, openid) DO UPDATE SET {assignments} RETURNING *"
    )


def _upsert(values: dict[str, Any], updates: dict[str, Any]) -> Write[FollowerRecord]:
    at: datetime = values["updated_at"]

    async def engine_step(conn: AsyncConnection) -> FollowerRecord:
        # Built only when used: the SQLite path never pays for compiling it.
        statement = postgresql.insert(_table).values(**values)
        # With nothing to change a no-op update still returns the existing row (DO NOTHING would not).
        changes = updates or {"appid": statement.excluded.appid}
        upsert = statement.on_conflict_do_update(index_elements=["appid", "openid"], set_=changes)
        row = dict((await conn.execute(upsert.returning(*_table.c))).one()._mapping)
        situation = {"id": row["id"], "now": at, "appid": row["appid"], "openid": row["openid"]}
        waiting, talking = (await conn.execute(text(_SITUATION_SQL), situation)).one()
        return FollowerRecord(row, has_waiting_pushes=bool(waiting), in_conversation=bool(talking))

    names = tuple(values)
    sql = _upsert_sql(names, tuple(updates) or ("appid",))
    pg_sql = _pg_upsert_sql(names, tuple(updates) or ("appid",), names.index("updated_at") + 1)
    pg_params = tuple(json.dumps(values[name]) if name in _JSON_COLUMNS else values[name] for name in names)

    async def driver_step(connection: Any) -> FollowerRecord:
        return _record_from_pg_row(await connection.fetchrow(pg_sql, *pg_params))

    updated = tuple(updates) or ("appid",)
    chained = ChainedStatement(
        sql=lambda before, guard, first: _pg_upsert_sql(
            names, updated, names.index("updated_at") + 1, before, guard, first
        ),
        params=pg_params,
        result=_record_from_pg_row,
        batch=ChainedBatch(
            shape=("follower upsert", names, updated),
            columns=_batch_columns(names),
            values=pg_params,
            keys=(("follower", values["appid"], values["openid"]),),
            sql=lambda before, guard: _pg_batch_sql(names, updated, before, guard),
            result=_record_from_pg_row,
        ),
    )

    # One conversion per distinct moment: every time column of an interaction holds the same instant.
    stamps: dict[datetime, str] = {}

    def sqlite_step(cursor: sqlite3.Cursor) -> FollowerRecord:
        # Converted here, in the writer's thread, and only on SQLite.
        cursor.execute(sql, tuple(_to_sqlite(name, values[name], stamps) for name in names))
        row = cursor.fetchone()
        columns = [column[0] for column in cursor.description]
        found = dict(zip(columns, row, strict=True))
        situation = {
            "id": found["id"],
            "now": stamps.get(at) or utc_text(at),
            "appid": found["appid"],
            "openid": found["openid"],
        }
        waiting, talking = cursor.execute(_SITUATION_SQL, situation).fetchone()
        return FollowerRecord(found, from_sqlite=True, has_waiting_pushes=bool(waiting), in_conversation=bool(talking))

    return Write(sqlite_step, engine_step, driver_step, chained)


def _to_sqlite(name: str, value: Any, stamps: dict[datetime, str]) -> Any:
    if isinstance(value, datetime):
        stamp = stamps.get(value)
        if stamp is None:
            stamp = stamps[value] = utc_text(value)
        return stamp
    if name in _JSON_COLUMNS:
        return json.dumps(value)
    return value


def interaction_write(
    *,
    appid: str,
    openid: str,
    kind: str,
    at: datetime,
    is_message: bool,
    opens_event_window: bool,
    unionid: str | None = None,
) -> Write[FollowerRecord]:
    """The write that creates the follower if unknown and stamps this interaction, in one statement.

    `is_message` stamps last_message_at (the 48-hour window); `opens_event_window` stamps last_event_at
    (follow, scan and menu click: the 1-minute window).
    """
    changes: dict[str, Any] = {"last_interaction_at": at, "last_interaction_kind": kind[:40], "updated_at": at}
    if is_message:
        changes["last_message_at"] = at
    if opens_event_window:
        changes["last_event_at"] = at
    if unionid:
        changes["unionid"] = unionid
    values = {"appid": appid, "openid": openid, "tags": [], "status": "subscribed", "created_at": at, **changes}
    return _upsert(values, changes)


def ensure_write(*, appid: str, openid: str, at: datetime) -> Write[FollowerRecord]:
    """The write that creates the follower if unknown, recording no interaction (platform notifications)."""
    values = {"appid": appid, "openid": openid, "tags": [], "status": "subscribed", "created_at": at, "updated_at": at}
    return _upsert(values, {})


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
    """`interaction_write` committed through `writer`; the result is detached (`session.add` it to change it)."""
    write = interaction_write(
        appid=appid,
        openid=openid,
        kind=kind,
        at=at,
        is_message=is_message,
        opens_event_window=opens_event_window,
        unionid=unionid,
    )
    return (await writer.run(write)).model()


async def ensure_follower(writer: GroupCommit, *, appid: str, openid: str, at: datetime) -> Follower:
    """The follower, created if unknown, without recording an interaction (platform notifications)."""
    return (await writer.run(ensure_write(appid=appid, openid=openid, at=at))).model()


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


__all__ = [
    "FollowerRecord",
    "ensure_follower",
    "ensure_write",
    "find_follower",
    "interaction_write",
    "mark_scanned",
    "mark_subscribed",
    "mark_unsubscribed",
    "record_interaction",
]
