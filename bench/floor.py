"""The floor under any importer: storing an import's orders and events, with nothing else done.

After the benchmark's import, its `orders` and `domain_events` rows are written again into empty
copies of the two tables (same columns, same indexes), as fast as each database takes rows from
Python: `executemany` in transactions of 50,000 rows on SQLite (the import's own settings), binary
`COPY` on PostgreSQL. No reading, normalising, lookups, comparisons, profiles or re-scoring: only
the storing the issue asks for. Its rows/s is the most any import of the same file can reach on
this machine with this schema. Whatever the import stored is what the floor stores: since imports write
domain events only for recent orders and, with a data key, each order's cells as one sealed blob, the
floor stores those (rows are copied as they are, every column, sealed cells included).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

TABLES = ("orders", "domain_events")
# Rows per insert and per transaction: about what the importer's one-second transactions hold.
CHUNK = 50_000


def sqlite_floor(database: Path, scratch: Path) -> dict[str, tuple[int, float]]:
    """(rows, seconds) to insert the rows of TABLES from `database` into fresh copies in `scratch`."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    source = sqlite3.connect(database)
    target = sqlite3.connect(scratch, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536", "wal_autocheckpoint=65536"):
        target.execute(f"PRAGMA {pragma}")
    done: dict[str, tuple[int, float]] = {}
    try:
        for table in TABLES:
            for (sql,) in source.execute(
                "SELECT sql FROM sqlite_schema WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type DESC", (table,)
            ):
                target.execute(sql.replace(", \n\tFOREIGN KEY(profile_id) REFERENCES profiles (id)", ""))
            rows = source.execute(f"SELECT * FROM {table}")  # noqa: S608 - our table names
            width = len(rows.description)
            insert = f"INSERT INTO {table} VALUES ({', '.join('?' * width)})"  # noqa: S608
            spent, count = 0.0, 0
            while chunk := rows.fetchmany(CHUNK):
                started = time.perf_counter()
                target.execute("BEGIN")
                target.executemany(insert, chunk)
                target.execute("COMMIT")
                spent += time.perf_counter() - started
                count += len(chunk)
            done[table] = (count, spent)
    finally:
        source.close()
        target.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    return done


async def postgres_floor(dsn: str) -> dict[str, tuple[int, float]]:
    """(rows, seconds) to COPY the rows of TABLES into fresh copies (`LIKE ... INCLUDING ALL`) on the same server."""
    import asyncpg

    reader, writer = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    # JSONB as text both ways, in the binary form SQLAlchemy's asyncpg dialect sends (a version byte first).
    for conn in (reader, writer):
        await conn.set_type_codec(
            "jsonb", schema="pg_catalog", format="binary", encoder=_jsonb_bytes, decoder=lambda data: data[1:].decode()
        )
    done: dict[str, tuple[int, float]] = {}
    try:
        for table in TABLES:
            copy = f"floor_{table}"
            await writer.execute(f"DROP TABLE IF EXISTS {copy}; CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)")
            columns = [
                row["attname"]
                for row in await reader.fetch(
                    "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 "
                    "AND NOT attisdropped AND attname <> 'id' ORDER BY attnum",
                    table,
                )
            ]
            spent, count = 0.0, 0
            async for chunk in _chunks(reader, f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"):  # noqa: S608
                started = time.perf_counter()
                async with writer.transaction():
                    await writer.copy_records_to_table(copy, records=chunk, columns=columns)
                spent += time.perf_counter() - started
                count += len(chunk)
            done[table] = (count, spent)
            await writer.execute(f"DROP TABLE {copy}")
    finally:
        await reader.close()
        await writer.close()
    return done


def _jsonb_bytes(text: str) -> bytes:
    return b"\x01" + text.encode()


async def _chunks(conn: Any, query: str) -> AsyncIterator[list[tuple[Any, ...]]]:
    async with conn.transaction():
        cursor = await conn.cursor(query)
        while chunk := await cursor.fetch(CHUNK):
            yield [tuple(row) for row in chunk]
