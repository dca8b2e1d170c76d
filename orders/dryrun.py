"""What a dry run remembers across its batches, kept off the heap so its memory stays flat with file size.

A dry run writes each batch and rolls it back, so the database never holds the file's earlier orders
or the profiles they would create. A scratch database (`storage.scratch`) holds instead: a digest of
each order's values by order number, so a later row of the same order counts as updated or unchanged
as in a real run, and the lookup keys of the profiles the run would create, so each is counted once.
Held in Python, the two grew by about 900 bytes an order: 915 MB for a 1M-row file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from storage import scratch
from storage.scratch import scratch_database


class DryRunMemory:
    """Order digests by order number and the profile keys seen; `close()` when the run ends.

    Calls are plain blocking sqlite3 calls; the writer runs them on a worker thread, one at a time.
    """

    def __init__(self) -> None:
        self._db = scratch_database(*scratch.DRY_RUN_TABLES)

    def order_digests(self, order_nos: Sequence[str]) -> dict[str, int]:
        """The digest remembered for each of these orders the run has seen."""
        return scratch.order_digests(self._db, order_nos)

    def unseen_profiles(self, phone_keys: Iterable[str]) -> set[str]:
        """Those of these profile lookup keys the run has not remembered yet."""
        keys = sorted(set(phone_keys))
        return set(keys) - scratch.seen_profile_keys(self._db, keys)

    def remember(self, digests: dict[str, int], phone_keys: Iterable[str]) -> None:
        """Remember a batch once it is counted: the latest digest of each order (a later row of an order
        replaces the earlier) and the profiles it would create. Only then: a batch tried again after a
        transient failure must find the same things unseen."""
        scratch.remember(self._db, digests, phone_keys)

    def close(self) -> None:
        self._db.close()
