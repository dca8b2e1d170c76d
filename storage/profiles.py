"""SQL for phone-keyed profiles fed by order imports: find-or-create by lookup key, purchase summaries.

A profile is found through `PhoneVault.lookup_key(e164)` and stores `seal(e164)`; creation is an
`INSERT ... ON CONFLICT DO NOTHING` followed by a read, so concurrent imports meet on one row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

import storage.models.core  # noqa: F401  (registers profiles)
from base.vault import PhoneVault, mask_phone
from storage.formats import sqlite_time
from storage.orders import copy_then_merge, driver_select_in, insert_records

PROFILES: Table = SQLModel.metadata.tables["profiles"]


async def profile_ids(conn: AsyncConnection, phone_keys: Sequence[str]) -> dict[str, int]:
    """Existing profiles' ids by lookup key (read from the lookup key's index alone)."""
    rows = await driver_select_in(
        conn, "SELECT phone_key, id FROM profiles WHERE phone_key {match}", sorted(phone_keys)
    )
    return dict(rows)


async def lacking_details(conn: AsyncConnection, phone_keys: Sequence[str]) -> dict[str, tuple[str | None, str | None]]:
    """(name, city) of those of these profiles that lack either, read through the small partial index
    of such profiles (`ix_profiles_lacking_details`): most profiles have both, and are not read."""
    hint = " INDEXED BY ix_profiles_lacking_details" if conn.dialect.name == "sqlite" else ""
    sql = (
        f"SELECT phone_key, name, city FROM profiles{hint} "  # noqa: S608 - no user text
        "WHERE (name IS NULL OR city IS NULL) AND phone_key {match}"
    )
    return {key: (name, city) for key, name, city in await driver_select_in(conn, sql, sorted(phone_keys))}


@dataclass(frozen=True, slots=True)
class NewPerson:
    """A usable phone seen in a file, with the receiver name and city that came with it."""

    e164: str
    name: str | None
    city: str | None


async def create_profiles(
    conn: AsyncConnection, vault: PhoneVault, people: Mapping[str, NewPerson], now: datetime
) -> dict[str, int]:
    """Create profiles for these lookup keys unless they exist (sorted: one lock order for everyone), and
    return the id of each one this call created.

    A profile another import created after the caller looked is left alone and not returned: it is that
    import's, with its orders. (On PostgreSQL two imports can look at once; on SQLite the caller holds
    the write lock from its look on, so every key it found missing is created here.)
    """
    if not people:
        return {}
    stamp = now if conn.dialect.name == "postgresql" else sqlite_time(now)
    seal = vault.seal
    # Tuples in the driver's form (JSON as text), straight to the driver: a big import creates many.
    records = [
        (key, seal(person.e164), mask_phone(person.e164), person.name, person.city, *_NEW_AGGREGATES, stamp, stamp)
        for key, person in sorted(people.items())
    ]
    conflict = "(phone_key) DO NOTHING"
    if conn.dialect.name == "postgresql":
        created = await copy_then_merge(conn, PROFILES, list(_NEW_PROFILE_COLUMNS), records, conflict, "phone_key, id")
        return dict(created)
    await insert_records(conn, PROFILES, _NEW_PROFILE_COLUMNS, records, conflict)
    return await profile_ids(conn, list(people))


# A new profile: who it is, its aggregates before any order counts, its time stamps.
_NEW_PROFILE_COLUMNS = (
    "phone_key", "phone_sealed", "phone_masked", "name", "city", "order_count", "total_spent_fen", "avg_order_fen",
    "top_products", "r_score", "f_score", "m_score", "segment", "lifecycle_stage", "tags", "created_at", "updated_at",
)  # fmt: skip
_NEW_AGGREGATES = (0, 0, 0, "[]", 0, 0, 0, "prospect", "prospect", "[]")


async def fill_missing_details(conn: AsyncConnection, updates: list[dict[str, Any]], now: datetime) -> None:
    """Give profiles a name and city from orders only where they have none (never overwrite)."""
    if not updates:
        return
    statement = (
        update(PROFILES)
        .where(PROFILES.c.id == bindparam("profile_id"))
        .values(
            name=func.coalesce(PROFILES.c.name, bindparam("new_name")),
            city=func.coalesce(PROFILES.c.city, bindparam("new_city")),
            updated_at=bindparam("now", type_=PROFILES.c.updated_at.type),
        )
    )
    rows = [{**row, "now": now} for row in sorted(updates, key=lambda row: row["profile_id"])]
    await conn.execute(statement, rows)


@dataclass
class PurchaseSummary:
    """What a profile's orders add up to (only orders counted as purchases).

    Times are as the driver returns them (SQLite: UTC text, whose order is the times' order;
    PostgreSQL: aware datetimes): a re-score of many profiles parses only what it must.
    """

    profile_id: int
    order_count: int = 0
    total_spent_fen: int = 0
    first_order_at: Any = None
    last_order_at: Any = None
    # (product, orders, latest order time) for each main product bought.
    products: list[tuple[str, int, Any]] = field(default_factory=list)


def stored_time(value: Any) -> datetime | None:
    """A time as the driver returns it (SQLite: naive UTC text; PostgreSQL: aware) to aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return value.astimezone(UTC)  # type: ignore[no-any-return]


async def purchase_summaries(
    conn: AsyncConnection, profile_ids: Sequence[int], purchased: Iterable[str]
) -> dict[int, PurchaseSummary]:
    """Set-based totals per profile, for these profiles only: one grouped query per chunk, by profile and
    main product, folded into one summary per profile here."""
    # The statuses are our own constants (orders.cells), never user text: safe to inline.
    statuses = ", ".join(f"'{status}'" for status in sorted(purchased))
    by_product = (
        "SELECT profile_id, first_product, count(*), sum(coalesce(paid_fen, total_fen, 0) - refund_fen), "  # noqa: S608
        f"min(ordered_at), max(ordered_at) FROM orders WHERE profile_id {{match}} AND status IN ({statuses}) "
        "GROUP BY profile_id, first_product"
    )
    ordered = sorted(profile_ids)
    summaries = {profile_id: PurchaseSummary(profile_id) for profile_id in ordered}
    for profile_id, product, count, total, first, last in await driver_select_in(conn, by_product, ordered):
        summary = summaries[profile_id]
        summary.order_count += count
        summary.total_spent_fen += int(total or 0)  # PostgreSQL sums bigints as numeric
        if first is not None and (summary.first_order_at is None or first < summary.first_order_at):
            summary.first_order_at = first
        if last is not None and (summary.last_order_at is None or last > summary.last_order_at):
            summary.last_order_at = last
        if product is not None:
            summary.products.append((product, count, last))
    return summaries


AGGREGATE_COLUMNS = (
    "order_count",
    "total_spent_fen",
    "avg_order_fen",
    "first_order_at",
    "last_order_at",
    "last_product",
    "top_products",
    "r_score",
    "f_score",
    "m_score",
    "segment",
    "lifecycle_stage",
)
# Where the JSON document sits in an aggregates tuple.
TOP_PRODUCTS_AT = AGGREGATE_COLUMNS.index("top_products")


async def current_aggregates(conn: AsyncConnection, profile_ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
    """The aggregate columns as stored now (`AGGREGATE_COLUMNS` tuples, as the driver returns them), to
    update only profiles whose values change.

    On PostgreSQL the rows are locked (in id order, so concurrent imports cannot deadlock) until the
    transaction ends: the caller reads the order summaries after this, so two imports refreshing the same
    profile take turns and the later one sees the other's orders (no lost update). On SQLite the caller
    holds the write lock from before this read (storage.db.take_write_lock), which does the same.
    """
    sql = f"SELECT id, {', '.join(AGGREGATE_COLUMNS)} FROM profiles WHERE id {{match}}"  # noqa: S608
    if conn.dialect.name == "postgresql":
        sql += " ORDER BY id FOR UPDATE"
    return {row[0]: row[1:] for row in await driver_select_in(conn, sql, sorted(profile_ids))}


async def profiles_with_followers(conn: AsyncConnection, profile_ids: Sequence[int]) -> set[int]:
    """Which of these profiles a follower is linked to (the others have nobody a journey could reach)."""
    sql = "SELECT DISTINCT profile_id FROM followers WHERE profile_id {match}"
    return {row[0] for row in await driver_select_in(conn, sql, sorted(profile_ids))}


def same_aggregates(stored: tuple[Any, ...], computed: tuple[Any, ...]) -> bool:
    """Whether stored aggregates equal freshly computed ones (both as the driver spells them): exactly, or
    but for the spelling of the JSON document (PostgreSQL's JSONB, and rows other code wrote)."""
    if stored == computed:
        return True
    at = TOP_PRODUCTS_AT
    if stored[:at] != computed[:at] or stored[at + 1 :] != computed[at + 1 :]:
        return False
    document = stored[at]
    decoded = json.loads(document) if isinstance(document, str | bytes) else document
    return bool(decoded == json.loads(computed[at]))


async def write_aggregates(conn: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
    """Store recomputed aggregates: tuples of every `AGGREGATE_COLUMNS` value, `updated_at` and the profile
    id, in the driver's form (see `orders.aggregates`), sorted by id (one lock order for everyone).

    Straight through the driver, as for order upserts: an import can re-score hundreds of thousands of
    profiles.
    """
    if not rows:
        return
    columns = [*AGGREGATE_COLUMNS, "updated_at"]
    if conn.dialect.name == "postgresql":
        await _copy_then_update(conn, columns, rows)
        return
    assignments = ", ".join(f"{name} = ?" for name in columns)
    await conn.exec_driver_sql(f"UPDATE profiles SET {assignments} WHERE id = ?", rows)  # noqa: S608 - our names


async def _copy_then_update(conn: AsyncConnection, columns: list[str], params: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: COPY the new aggregates into a temporary table, then one `UPDATE ... FROM` (by id order)."""
    stage = "import_stage_aggregates"
    await conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS "  # noqa: S608 - column names are ours
        f"SELECT {', '.join(columns)}, id AS profile_id FROM profiles WITH NO DATA"
    )
    raw = await conn.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        stage, records=params, columns=[*columns, "profile_id"]
    )
    assignments = ", ".join(f"{name} = s.{name}" for name in columns)
    await conn.exec_driver_sql(
        f"UPDATE profiles SET {assignments} FROM {stage} s WHERE profiles.id = s.profile_id"  # noqa: S608
    )
    await conn.exec_driver_sql(f"DROP TABLE {stage}")
