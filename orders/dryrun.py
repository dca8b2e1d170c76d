"""What a dry run remembers across its batches, kept on disk so its memory stays flat with file size.

A dry run writes each batch and rolls it back, so the database never holds the file's earlier orders
or the profiles they would create. This scratch SQLite file (deleted when the run ends) holds instead:
a digest of each order's values by order number, so a later row of the same order counts as updated
or unchanged as in a real run, and the lookup keys of the profiles the run would create, so each is
counted once. Held in Python, the two grew by about 900 bytes an order: 915 MB for a 1M-row file.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

# Keys per IN list: well under SQLite's bound-parameter limit.
_CHUNK = 2_000


class DryRunMemory:
    """Order digests by order number and the profile keys seen, in a scratch file; `close()` deletes it.

    Calls are plain blocking sqlite3 calls; the writer runs them on a worker thread, one at a time.
    """

    def __init__(self) -> None:
        handle, name = tempfile.mkstemp(prefix="scrm-dry-run-", suffix=".db")
        os.close(handle)
        self._path = Path(name)
        self._db = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
        # Scratch data, thrown away at the end: no journal, no syncs, a small cache.
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-8192"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE orders (order_no TEXT PRIMARY KEY, digest INTEGER NOT NULL) WITHOUT ROWID")
        self._db.execute("CREATE TABLE profile_keys (phone_key TEXT PRIMARY KEY) WITHOUT ROWID")

    def order_digests(self, order_nos: Sequence[str]) -> dict[str, int]:
        """The digest remembered for each of these orders the run has seen."""
        found: dict[str, int] = {}
        for start in range(0, len(order_nos), _CHUNK):
            part = order_nos[start : start + _CHUNK]
            marks = ", ".join("?" * len(part))
            sql = f"SELECT order_no, digest FROM orders WHERE order_no IN ({marks})"  # noqa: S608 - marks only
            found.update(self._db.execute(sql, part).fetchall())
        return found

    def remember_orders(self, digests: dict[str, int]) -> None:
        """Remember the latest digest of each order (a later row of an order replaces the earlier)."""
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?)", digests.items())
        self._db.execute("COMMIT")

    def first_seen_profiles(self, phone_keys: Iterable[str]) -> set[str]:
        """Those of these keys the run has not seen before; all of them are remembered from now on."""
        keys = sorted(set(phone_keys))
        self._db.execute("BEGIN")
        before = self._db.total_changes
        fresh: set[str] = set()
        for key in keys:
            self._db.execute("INSERT OR IGNORE INTO profile_keys VALUES (?)", (key,))
            if self._db.total_changes != before:
                fresh.add(key)
                before = self._db.total_changes
        self._db.execute("COMMIT")
        return fresh

    def close(self) -> None:
        self._db.close()
        self._path.unlink(missing_ok=True)
