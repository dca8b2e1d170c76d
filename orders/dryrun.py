"""What a dry run remembers across its batches, kept off the heap so its memory stays flat with file size.

A dry run writes each batch and rolls it back, so the database never holds the file's earlier orders
or the profiles they would create. A scratch database (`orders.scratch`) holds instead: a digest of
each order's values by order number, so a later row of the same order counts as updated or unchanged
as in a real run, and the lookup keys of the profiles the run would create, so each is counted once.
Held in Python, the two grew by about 900 bytes an order: 915 MB for a 1M-row file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from orders.scratch import CHUNK, scratch_database


class DryRunMemory:
    """Order digests by order number and the profile keys seen; `close()` when the run ends.

    Calls are plain blocking sqlite3 calls; the writer runs them on a worker thread, one at a time.
    """

    def __init__(self) -> None:
        self._db = scratch_database(
            "CREATE TABLE orders (order_no TEXT PRIMARY KEY, digest INTEGER NOT NULL) WITHOUT ROWID",
            "CREATE TABLE profile_keys (phone_key TEXT PRIMARY KEY) WITHOUT ROWID",
        )

    def order_digests(self, order_nos: Sequence[str]) -> dict[str, int]:
        """The digest remembered for each of these orders the run has seen."""
        found: dict[str, int] = {}
        for start in range(0, len(order_nos), CHUNK):
            part = order_nos[start : start + CHUNK]
            marks = ", ".join("?" * len(part))
            sql = f"SELECT order_no, digest FROM orders WHERE order_no IN ({marks})"  # noqa: S608 - marks only
            found.update(self._db.execute(sql, part).fetchall())
        return found

    def unseen_profiles(self, phone_keys: Iterable[str]) -> set[str]:
        """Those of these profile lookup keys the run has not remembered yet."""
        keys = sorted(set(phone_keys))
        seen: set[str] = set()
        for start in range(0, len(keys), CHUNK):
            part = keys[start : start + CHUNK]
            marks = ", ".join("?" * len(part))
            sql = f"SELECT phone_key FROM profile_keys WHERE phone_key IN ({marks})"  # noqa: S608 - marks only
            seen.update(key for (key,) in self._db.execute(sql, part))
        return set(keys) - seen

    def remember(self, digests: dict[str, int], phone_keys: Iterable[str]) -> None:
        """Remember a batch once it is counted: the latest digest of each order (a later row of an order
        replaces the earlier) and the profiles it would create. Only then: a batch tried again after a
        transient failure must find the same things unseen."""
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?)", digests.items())
        self._db.executemany("INSERT OR IGNORE INTO profile_keys VALUES (?)", ((key,) for key in phone_keys))
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
