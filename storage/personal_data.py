"""Where personal data lives, for export and erasure, declared per table and found generically.

A row belongs to a person when one of its columns names them: `follower_id`, `profile_id`, `openid`,
`unionid`, `phone_key`, or an audit `target` of `follower:<id>` / `profile:<id>`; or when any text or JSON
column contains one of their strong identifiers (phone number, openid, unionid). That rule covers tables
added later without any declaration here. A feature that keeps personal data beyond those identifiers
declares the columns to clear (`declare_personal_columns`) or that its rows go entirely (`delete_rows`).
The statements that find, scrub and delete a person's rows are here too; identity.erase and
identity.export decide what to do with them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, ColumnElement, RowMapping, String, Table, Text, cast, delete, false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.schema import Column
from sqlalchemy.types import TypeDecorator, TypeEngine

from storage.orders import IMPORT_RUNS


@dataclass(frozen=True)
class TablePolicy:
    """What erasure does to a person's rows of one table beyond scrubbing their identifiers."""

    clear: Mapping[str, Any] = field(default_factory=dict)
    delete_rows: bool = False


_POLICIES: dict[str, TablePolicy] = {}

# Tables erasure handles explicitly (identity rows) or must never touch (its own record).
EXPLICIT_TABLES = frozenset({"profiles", "followers", "erasures"})


def declare_personal_columns(table: str, *, delete_rows: bool = False, **clear: Any) -> None:
    """Declare that erasing a person sets `clear` columns of their rows (or deletes the rows)."""
    _POLICIES[table] = TablePolicy(dict(clear), delete_rows)


def policy_for(table: str) -> TablePolicy:
    return _POLICIES.get(table, TablePolicy())


# The tables known today. Raw payloads go whole: they may hold anything the sender put in them.
declare_personal_columns("inbound_events", payload={}, reply=None)
declare_personal_columns("domain_events", payload={})
declare_personal_columns(
    "orders",
    phone_hint=None,
    hint_kind=None,
    hint_last4=None,
    receiver_name=None,
    receiver_city=None,
    raw=[],
    cells=None,
)
declare_personal_columns("import_rejects", cells={}, detail="")
declare_personal_columns("pushes", context={})
declare_personal_columns("journey_runs", context={})
declare_personal_columns("conversation_states", delete_rows=True)
declare_personal_columns("sms_codes", delete_rows=True)
declare_personal_columns("identity_candidates", delete_rows=True)
# A person's clicks on tracked links go whole (what they opened, when); anonymous clicks name nobody.
declare_personal_columns("link_clicks", delete_rows=True)


def _underlying(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    # sqlmodel's AutoString and our own column types are decorators around the real type.
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return type_


def is_text(column: Column[Any]) -> bool:
    return isinstance(_underlying(column.type), String | Text)


def is_json(column: Column[Any]) -> bool:
    return isinstance(_underlying(column.type), JSON)


def searchable_columns(table: Table) -> list[Column[Any]]:
    """Every text and JSON column of a table."""
    return [c for c in table.columns if is_text(c) or is_json(c)]


@dataclass(frozen=True)
class SubjectKeys:
    """The ids and strings that identify one person in rows."""

    follower_ids: frozenset[int]
    profile_ids: frozenset[int]
    openids: frozenset[str]
    unionids: frozenset[str]
    phone_keys: frozenset[str]
    # Strings whose presence anywhere makes a row theirs: phone forms, openids, unionids.
    strong: frozenset[str]


def _like_pattern(needle: str) -> str:
    escaped = needle.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def _needle_forms(needle: str) -> set[str]:
    # JSON text may hold a string escaped (SQLite stores \uXXXX) or as is (PostgreSQL's jsonb::text).
    return {needle, json.dumps(needle)[1:-1], json.dumps(needle, ensure_ascii=False)[1:-1]}


def contains_any(column: Column[Any], needles: Iterable[str]) -> ColumnElement[bool]:
    """SQL: the column's text (JSON rendered as text) contains one of `needles`."""
    target: ColumnElement[Any] = cast(column, Text) if is_json(column) else column
    forms = {form for needle in needles if needle for form in _needle_forms(needle)}
    if not forms:
        return false()
    return or_(*(target.like(_like_pattern(form), escape="!") for form in sorted(forms)))


def subject_condition(table: Table, keys: SubjectKeys) -> ColumnElement[bool]:
    """SQL: the row belongs to the person (see the module docstring)."""
    conditions: list[ColumnElement[bool]] = []
    columns = table.columns
    by_id = (("follower_id", keys.follower_ids), ("profile_id", keys.profile_ids))
    for name, ids in by_id:
        if name in columns and ids:
            conditions.append(columns[name].in_(sorted(ids)))
    by_text = (("openid", keys.openids), ("unionid", keys.unionids), ("phone_key", keys.phone_keys))
    for name, values in by_text:
        if name in columns and values:
            conditions.append(columns[name].in_(sorted(values)))
    if table.name == "audit_log":
        targets = [f"follower:{i}" for i in keys.follower_ids] + [f"profile:{i}" for i in keys.profile_ids]
        if targets:
            conditions.append(columns["target"].in_(targets))
    for column in searchable_columns(table):
        conditions.append(contains_any(column, keys.strong))
    return or_(*conditions) if conditions else false()


def scrub_value(value: Any, replacements: list[tuple[str, str]]) -> Any:
    """Replace every needle in a string or JSON document (keys and values) by its replacement."""
    if isinstance(value, str):
        for needle, replacement in replacements:
            if needle and needle in value:
                value = value.replace(needle, replacement)
        return value
    if isinstance(value, dict):
        return {scrub_value(k, replacements): scrub_value(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(item, replacements) for item in value]
    return value


async def rows_of_subject(
    connection: AsyncConnection, table: Table, keys: SubjectKeys, *, ordered: bool = False
) -> Sequence[RowMapping]:
    """The table's rows that belong to the person (in primary-key order when `ordered`)."""
    statement = select(table).where(subject_condition(table, keys))
    if ordered:
        statement = statement.order_by(*table.primary_key.columns)
    return (await connection.execute(statement)).mappings().all()


def _same_row(table: Table, row: RowMapping) -> list[ColumnElement[bool]]:
    return [pk == row[pk.name] for pk in table.primary_key.columns]


async def delete_row(connection: AsyncConnection, table: Table, row: RowMapping) -> None:
    await connection.execute(delete(table).where(*_same_row(table, row)))


async def update_row(connection: AsyncConnection, table: Table, row: RowMapping, changes: Mapping[str, Any]) -> None:
    await connection.execute(update(table).where(*_same_row(table, row)).values(**changes))


async def import_run_headers(connection: AsyncConnection, run_ids: Iterable[int]) -> dict[int, list[str]]:
    """The header names each of these import runs kept, by run id."""
    wanted = set(run_ids)
    if not wanted:
        return {}
    found = await connection.execute(
        select(IMPORT_RUNS.c.id, IMPORT_RUNS.c.headers).where(IMPORT_RUNS.c.id.in_(wanted))
    )
    return {run_id: names for run_id, names in found}
