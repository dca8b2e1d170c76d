"""Scratch SQLite databases: what an import must remember about a whole file, kept off the heap.

`sqlite3.connect("")` opens a private temporary database: SQLite keeps its pages in a small cache and
the rest in a file it unlinks as soon as it opens it, so nothing is left behind, even by a killed run.
"""

from __future__ import annotations

import sqlite3

# Page cache of a scratch database; the rest of it lives in its (unlinked) file.
CACHE_KIB = 8_192
# Keys per IN list: well under SQLite's bound-parameter limit.
CHUNK = 2_000


def scratch_database(*tables: str) -> sqlite3.Connection:
    """A new private scratch database with these `CREATE TABLE` statements run, in autocommit mode."""
    db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    # Thrown away at the end: no journal, no syncs.
    for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{CACHE_KIB}"):
        db.execute(f"PRAGMA {pragma}")
    for table in tables:
        db.execute(table)
    return db
