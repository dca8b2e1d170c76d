"""SQL of the order import: bulk upserts keyed by (platform, order number), runs, rejects, domain events.

Written with SQLAlchemy Core on a connection, never the ORM per row: a batch is one `executemany` of
a dialect-specific `INSERT ... ON CONFLICT`, which also makes two imports running at once converge
on one row per order instead of failing or duplicating.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

import storage.models.core  # noqa: F401  (registers domain_events)
import storage.models.identity  # noqa: F401  (registers erasures)
import storage.models.orders  # noqa: F401  (registers the tables below)
from storage.formats import ORDER_WRITE_COLUMNS

ORDERS: Table = SQLModel.metadata.tables["orders"]
IMPORT_RUNS: Table = SQLModel.metadata.tables["import_runs"]
IMPORT_REJECTS: Table = SQLModel.metadata.tables["import_rejects"]
DOMAIN_EVENTS: Table = SQLModel.metadata.tables["domain_events"]
ERASURES: Table = SQLModel.metadata.tables["erasures"]

# The domain event columns of the tuples `insert_records` takes for DOMAIN_EVENTS.
EVENT_COLUMNS = ("kind", "occurred_at", "profile_id", "payload", "dedup_key", "appid", "follower_id", "processed_at")
# Keep IN lists well under SQLite's and asyncpg's bound-parameter limits.
CHUNK = 2000
# The lengths SQLite IN lists are padded to (see driver_select_in); the last is CHUNK.
IN_LENGTHS = (8, 64, 256, 1024, CHUNK)


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """Consecutive slices of at most `size` values."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


async def stored_orders(
    conn: AsyncConnection, platform: str, order_nos: Sequence[str], columns: Sequence[str]
) -> dict[str, tuple[Any, ...]]:
    """The stored values of `columns` for the orders that already exist, by order number, as the driver
    returns them (SQLite: times and JSON as text; PostgreSQL: aware datetimes, JSON text)."""
    # The column names are ours (COMPARED_COLUMNS), never user text.
    sql = f"SELECT order_no, {', '.join(columns)} FROM orders WHERE platform = {{}} AND order_no {{match}}"  # noqa: S608
    rows = await driver_select_in(conn, sql, order_nos, leading=(platform,))
    return {row[0]: row[1:] for row in rows}


async def insert_records(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    records: list[tuple[Any, ...]],
    conflict: str | None,
) -> None:
    """`INSERT ... ON CONFLICT <conflict>` of tuples already in the driver's form (see orders.wire).

    `conflict` None: the caller knows no row conflicts; one that does fails the statement (on
    PostgreSQL the rows are then copied straight into the table).
    """
    if not records:
        return
    if conn.dialect.name == "postgresql":
        if conflict is None:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                table.name, records=records, columns=list(columns)
            )
            return
        await copy_then_merge(conn, table, list(columns), records, conflict)
        return
    marks = ", ".join("?" for _ in columns)
    on_conflict = "" if conflict is None else f" ON CONFLICT {conflict}"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks}){on_conflict}"  # noqa: S608
    await conn.exec_driver_sql(sql, records)


_stage_numbers = itertools.count()


async def copy_then_merge(
    conn: AsyncConnection,
    table: Table,
    columns: list[str],
    records: list[tuple[Any, ...]],
    conflict: str,
    returning: str | None = None,
) -> list[tuple[Any, ...]]:
    """PostgreSQL: COPY the rows into a temporary table, then one `INSERT ... SELECT ... ON CONFLICT`.

    COPY is several times faster than a prepared-statement executemany; the merge keeps the
    upsert semantics (and the conflict target's order, so concurrent importers lock rows in one
    order). The stage table lives in this transaction only, so a retry or a crash leaves nothing.
    `returning`: columns of the rows the merge inserted or updated (not those it left alone), as tuples.
    """
    stage = f"import_stage_{table.name}_{next(_stage_numbers)}"
    names = ", ".join(columns)
    # The conflict target, e.g. "(platform, order_no)", doubles as the merge order.
    target = conflict[conflict.index("(") + 1 : conflict.index(")")]
    # A statement first, so the transaction is open before the driver-level COPY joins it.
    await conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS SELECT {names} FROM {table.name} WITH NO DATA"  # noqa: S608
    )
    raw = await conn.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(stage, records=records, columns=columns)  # type: ignore[union-attr]
    result = await conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage} ORDER BY {target} "  # noqa: S608
        f"ON CONFLICT {conflict}{f' RETURNING {returning}' if returning else ''}"
    )
    merged = [tuple(row) for row in result.fetchall()] if returning else []
    await conn.exec_driver_sql(f"DROP TABLE {stage}")
    return merged


async def driver_select_in(
    conn: AsyncConnection, sql: str, values: Sequence[Any], leading: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Rows of `sql` for many values, straight through the driver (raw driver values come back).

    `sql` holds `{marks}` for the leading parameters' placeholders, in order, and `{match}` where
    the tested column is followed by its membership test (`= ANY($n)` or `IN (?, ...)`).
    """
    found: list[tuple[Any, ...]] = []
    if conn.dialect.name == "postgresql":
        marks = [f"${n}" for n in range(1, len(leading) + 1)]
        statement = sql.format(*marks, match=f"= ANY(${len(leading) + 1})")
        for part in chunks(values, 20_000):
            # Through SQLAlchemy: its asyncpg adapter opens the transaction at the first statement, and
            # a read that locks rows (FOR UPDATE) must run inside it.
            result = await conn.exec_driver_sql(statement, (*leading, list(part)))
            found.extend(map(tuple, result.fetchall()))
        return found
    # Straight to aiosqlite: plain tuples in one hop to its thread, without SQLAlchemy's result rows (an
    # import reads a few rows per order). The same sqlite3 connection, so the same transaction, if any.
    driver = (await conn.get_raw_connection()).driver_connection
    for part in chunks(values):
        # The list is padded with NULLs (which match nothing) to one of a few lengths, so the driver
        # keeps a handful of prepared statements instead of one per length: each holds thousands of
        # parameters, and its statement cache would otherwise fill with them.
        size = next(bucket for bucket in IN_LENGTHS if bucket >= len(part))
        statement = sql.format(*("?" * len(leading)), match=f"IN ({', '.join('?' * size)})")
        padded = (*leading, *part, *([None] * (size - len(part))))
        found.extend(await driver.execute_fetchall(statement, padded))  # type: ignore[union-attr]
    return found


async def upsert_orders(
    conn: AsyncConnection,
    records: list[tuple[Any, ...]],
    update_columns: Iterable[str],
    *,
    all_new: bool = False,
) -> None:
    """Insert orders (`ORDER_WRITE_COLUMNS` tuples in the driver's form), or update the given columns of
    those that exist; sorted by order number, so concurrent importers lock rows in one order.

    `all_new`: none of them existed when the caller looked (in this transaction). They are then inserted
    without conflict handling (on PostgreSQL copied straight into the table, skipping the stage and the
    merge); an order another import added since makes that fail with a unique violation, which
    `orders.retry` treats as transient on PostgreSQL.
    """
    if not records:
        return
    records.sort(key=_order_no_of)
    if all_new:
        await insert_records(conn, ORDERS, ORDER_WRITE_COLUMNS, records, None)
        return
    updates = ", ".join(f"{name} = excluded.{name}" for name in update_columns)
    conflict = f"(platform, order_no) DO UPDATE SET {updates}"
    await insert_records(conn, ORDERS, ORDER_WRITE_COLUMNS, records, conflict)


def _order_no_of(record: tuple[Any, ...]) -> Any:
    return record[1]


async def purchased_profiles(conn: AsyncConnection, profile_ids: Sequence[int], statuses: Iterable[str]) -> set[int]:
    """Which of these profiles already have at least one order counted as a purchase."""
    # The statuses are our own constants (orders.cells), never user text: safe to inline.
    counted = ", ".join(f"'{status}'" for status in sorted(statuses))
    sql = f"SELECT DISTINCT profile_id FROM orders WHERE status IN ({counted}) AND profile_id {{match}}"  # noqa: S608
    return {row[0] for row in await driver_select_in(conn, sql, sorted(profile_ids))}


async def lock_profiles(conn: AsyncConnection, profile_ids: Sequence[int]) -> None:
    """PostgreSQL: lock these profiles' rows (in id order) until the transaction ends, so importers that
    decide which purchase of a profile is its first do so one at a time, each seeing the other's.

    `FOR NO KEY UPDATE`: orders still reference the rows meanwhile (their foreign key takes a key-share
    lock, which this does not block). SQLite needs nothing: an import holds the database's write lock.
    """
    if conn.dialect.name != "postgresql" or not profile_ids:
        return
    sql = "SELECT id FROM profiles WHERE id {match} ORDER BY id FOR NO KEY UPDATE"
    await driver_select_in(conn, sql, sorted(profile_ids))


async def start_run(conn: AsyncConnection, values: Mapping[str, Any]) -> int:
    """Record the start of an import and return its id."""
    result = await conn.execute(IMPORT_RUNS.insert().returning(IMPORT_RUNS.c.id), [dict(values)])
    return int(result.scalar_one())


async def finish_run(conn: AsyncConnection, run_id: int, values: Mapping[str, Any]) -> None:
    """Store the final counts of an import run."""
    await conn.execute(update(IMPORT_RUNS).where(IMPORT_RUNS.c.id == run_id).values(**values))


async def insert_rejects(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Keep rejected rows for download from the console."""
    if rows:
        await conn.execute(IMPORT_REJECTS.insert(), rows)


async def run_rejects(conn: AsyncConnection, run_id: int) -> list[dict[str, Any]]:
    """The rejected rows of one run, in file order."""
    query = (
        select(IMPORT_REJECTS.c.line_no, IMPORT_REJECTS.c.reason, IMPORT_REJECTS.c.detail, IMPORT_REJECTS.c.cells)
        .where(IMPORT_REJECTS.c.import_run_id == run_id)
        .order_by(IMPORT_REJECTS.c.line_no)
    )
    return [dict(row._mapping) for row in await conn.execute(query)]


async def recent_runs(conn: AsyncConnection, limit: int = 20) -> list[dict[str, Any]]:
    """The latest import runs, newest first."""
    query = select(IMPORT_RUNS).order_by(IMPORT_RUNS.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in await conn.execute(query)]


async def orders_of_profile(conn: AsyncConnection, profile_id: int) -> list[dict[str, Any]]:
    """Every order linked to a profile, oldest first (identity proof questions, data export)."""
    query = select(ORDERS).where(ORDERS.c.profile_id == profile_id).order_by(ORDERS.c.ordered_at, ORDERS.c.id)
    return [dict(row._mapping) for row in await conn.execute(query)]


async def erased_subject_hashes(conn: AsyncConnection) -> frozenset[str]:
    """The keyed hash of every erased person's number (see base.vault.erasure_hash)."""
    return frozenset((await conn.execute(select(ERASURES.c.subject_hash))).scalars())


async def sqlite_import_cache(conn: AsyncConnection, cache_kib: int) -> None:
    """SQLite: this connection's page cache (see orders.importer.import_connection), committed at once."""
    await conn.exec_driver_sql(f"PRAGMA cache_size=-{int(cache_kib)}")
    await conn.commit()


async def checkpoint_passive(conn: AsyncConnection) -> None:
    """SQLite: copy what the WAL holds into the database, without waiting for readers to finish."""
    await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
