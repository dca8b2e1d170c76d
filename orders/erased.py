"""People who asked for erasure stay erased: an import never brings their orders back.

The `erasures` table keeps a keyed hash of each erased number, never the number, so an order whose phone
hashes to one of them is dropped and counted in the report, without its cells being stored anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from identity.erase import erasure_hash
from orders.records import Batch
from orders.report import FileReport
from storage.db import Database
from storage.models.identity import Erasure

REASON = "erased person: their data is not imported again"


@dataclass(frozen=True)
class ErasedNumbers:
    hashes: frozenset[str]
    data_key: bytes

    @classmethod
    async def load(cls, db: Database, data_key: bytes) -> ErasedNumbers:
        async with db.session() as session:
            hashes = frozenset((await session.exec(select(Erasure.subject_hash))).all())
        return cls(hashes, data_key)

    def drop_from(self, batch: Batch, report: FileReport) -> None:
        """Remove the erased people's orders from `batch`, counting them as rejected in `report`."""
        if not self.hashes:
            return
        kept = [
            record
            for record in batch.orders
            if record.phone.e164 is None or erasure_hash(record.phone.e164, self.data_key) not in self.hashes
        ]
        dropped = len(batch.orders) - len(kept)
        if dropped:
            batch.orders = kept
            report.rejects_by_reason[REASON] += dropped
