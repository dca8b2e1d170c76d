"""Scratch SQLite databases: what an import must remember about a whole file, kept off the heap.

`sqlite3.connect("")` opens a private temporary database: SQLite keeps its pages in a small cache and
the rest in a file it unlinks as soon as it opens it, so nothing is left behind, even by a killed run.
Two kinds: a dry run's memory (order digests and profile keys seen, `orders.dryrun`) and the open orders
a line-level file spills (`orders.rollup`). Plain blocking sqlite3 calls, free of SQLAlchemy: the
import's reader process uses the spill store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence

# Page cache of a scratch database; the rest of it lives in its (unlinked) file.
CACHE_KIB = 8_192
# Keys per IN list: well under SQLite's bound-parameter limit.
CHUNK = 2_000

DRY_RUN_TABLES = (
    "CREATE TABLE orders (order_no TEXT PRIMARY KEY, digest INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE profile_keys (phone_key TEXT PRIMARY KEY) WITHOUT ROWID",
)
SPILL_TABLES = ("CREATE TABLE spilled (seq INTEGER PRIMARY KEY, order_no TEXT NOT NULL UNIQUE, record BLOB NOT NULL)",)


def scratch_database(*tables: str) -> sqlite3.Connection:
    """A new private scratch database with these `CREATE TABLE` statements run, in autocommit mode."""
    db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    # Thrown away at the end: no journal, no syncs.
    for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{CACHE_KIB}"):
        db.execute(f"PRAGMA {pragma}")
    for table in tables:
        db.execute(table)
    return db


def _in_chunks(db: sqlite3.Connection, sql: str, values: Sequence[str]) -> Iterator[tuple[str, ...]]:
    """Rows of `sql` (with `{marks}` for the IN list) for every value, CHUNK values per statement."""
    for start in range(0, len(values), CHUNK):
        part = values[start : start + CHUNK]
        yield from db.execute(sql.format(marks=", ".join("?" * len(part))), part)


def order_digests(db: sqlite3.Connection, order_nos: Sequence[str]) -> dict[str, int]:
    """Dry run: the digest remembered for each of these orders (DRY_RUN_TABLES)."""
    sql = "SELECT order_no, digest FROM orders WHERE order_no IN ({marks})"
    return {order_no: digest for order_no, digest in _in_chunks(db, sql, order_nos)}  # type: ignore[misc]


def seen_profile_keys(db: sqlite3.Connection, phone_keys: Sequence[str]) -> set[str]:
    """Dry run: those of these profile lookup keys already remembered."""
    return {
        key for (key,) in _in_chunks(db, "SELECT phone_key FROM profile_keys WHERE phone_key IN ({marks})", phone_keys)
    }


def remember(db: sqlite3.Connection, digests: dict[str, int], phone_keys: Iterable[str]) -> None:
    """Dry run: the latest digest of each order (a later row of an order replaces the earlier) and the
    profile keys, in one transaction."""
    db.execute("BEGIN")
    db.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?)", digests.items())
    db.executemany("INSERT OR IGNORE INTO profile_keys VALUES (?)", ((key,) for key in phone_keys))
    db.execute("COMMIT")


def spill(db: sqlite3.Connection, records: Iterable[tuple[str, bytes]]) -> None:
    """Open orders (order number, packed record) written out in one transaction (SPILL_TABLES)."""
    db.execute("BEGIN")
    db.executemany("INSERT INTO spilled (order_no, record) VALUES (?, ?)", records)
    db.execute("COMMIT")


def take_spilled(db: sqlite3.Connection, order_no: str) -> bytes | None:
    """The packed record of a spilled order, removed from the store; None if it is not there."""
    row = db.execute("SELECT seq, record FROM spilled WHERE order_no = ?", (order_no,)).fetchone()
    if row is None:
        return None
    db.execute("DELETE FROM spilled WHERE seq = ?", (row[0],))
    return bytes(row[1])


def spilled_in_order(db: sqlite3.Connection, size: int) -> Iterator[bytes]:
    """Every spilled record, in the order they were spilled, read `size` at a time."""
    rows = db.execute("SELECT record FROM spilled ORDER BY seq")
    while chunk := rows.fetchmany(size):
        for (data,) in chunk:
            yield data
