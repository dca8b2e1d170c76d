"""People who asked for erasure stay erased: an import never brings their orders back.

The `erasures` table keeps a keyed hash of each erased number, never the number, so an order whose phone
hashes to one of them is dropped by the reader (`orders.wire.WireEncoder`) and counted in the report,
without its cells being stored anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database
from storage.orders import erased_subject_hashes

REASON = "erased person: their data is not imported again"


@dataclass(frozen=True)
class ErasedNumbers:
    """The keyed hashes of every erased number (see identity.erase.erasure_hash)."""

    hashes: frozenset[str]
    data_key: bytes

    @classmethod
    async def load(cls, db: Database, data_key: bytes) -> ErasedNumbers:
        async with db.engine.connect() as conn:
            return cls(await erased_subject_hashes(conn), data_key)
