"""The orders of a line-level file still open to more lines, in memory up to a bound, the rest spilled.

A line-level export (one row per item or sub-order) can list an order's lines anywhere in the file, so
every order stays open until the file ends. Most exports keep an order's lines together: the orders
seen most recently stay in memory, and the oldest are written to a scratch database (`storage.scratch`)
once more than `limit` are open, coming back if a later line names them. A 600,000-line file held
300,000 orders at about 3.4 KB each (1 GB) before this; now memory stays flat however long the file.
"""

from __future__ import annotations

import marshal
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from base.phones import PhoneVerdict
from base.vault import PhoneVault
from storage.scratch import SPILL_TABLES, scratch_database, spill, spilled_in_order, take_spilled

if TYPE_CHECKING:
    from orders.records import OrderRecord

# Open orders kept in memory (about 3.4 KB each), and how many of the oldest are spilled at once.
OPEN_IN_MEMORY = 20_000
SPILL_AT_ONCE = 2_000


class OpenOrders:
    """Open orders by order number; `drain()` hands them all out, in the order they were first seen."""

    def __init__(self, limit: int | None = None, vault: PhoneVault | None = None) -> None:
        """`vault`: with a data key, spilled orders (phones, names, cells) are sealed in the scratch file."""
        self._limit = OPEN_IN_MEMORY if limit is None else limit
        self._vault = vault if vault is not None and vault.encrypted else None
        self._memory: dict[str, OrderRecord] = {}
        self._spilled = 0
        self._db = scratch_database(*SPILL_TABLES)

    def __len__(self) -> int:
        return len(self._memory) + self._spilled

    def get(self, order_no: str) -> OrderRecord | None:
        """The open order with this number, brought back into memory if it was spilled."""
        record = self._memory.get(order_no)
        if record is not None or not self._spilled:
            return record
        data = take_spilled(self._db, order_no)
        if data is None:
            return None
        self._spilled -= 1
        spilled = self._unpack(data)
        self.add(spilled)
        return spilled

    def add(self, record: OrderRecord) -> None:
        """A newly seen order (or one brought back): the most recent in memory."""
        self._memory[record.order_no] = record
        if len(self._memory) > self._limit:
            self._spill_oldest()

    def _spill_oldest(self) -> None:
        # Never the newest: the caller is about to add lines to it, and a spilled copy would miss them.
        count = min(SPILL_AT_ONCE, len(self._memory) - 1)
        oldest = [self._memory.pop(order_no) for order_no in list(self._memory)[:count]]
        spill(self._db, ((record.order_no, self._pack(record)) for record in oldest))
        self._spilled += len(oldest)

    def drain(self) -> Iterator[OrderRecord]:
        """Every open order, spilled ones first (they were seen first), then those in memory; then closes."""
        try:
            for data in spilled_in_order(self._db, SPILL_AT_ONCE):
                yield self._unpack(data)
            yield from self._memory.values()
        finally:
            self.close()

    def close(self) -> None:
        self._memory, self._spilled = {}, 0
        self._db.close()

    def _pack(self, record: OrderRecord) -> bytes:
        data = _pack(record)
        return data if self._vault is None else self._vault.seal_bytes(data)

    def _unpack(self, data: bytes) -> OrderRecord:
        return _unpack(data if self._vault is None else self._vault.unseal_bytes(data))


# A spilled record is a marshalled list of its fields: times as microseconds since the epoch, its phone
# verdict as a tuple. Pickling the dataclass itself (aware datetimes above all) cost about 45 us a record
# there and back, and a big file spills hundreds of thousands.
_PHONE_FIELDS = tuple(field.name for field in fields(PhoneVerdict))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@cache
def _layout() -> tuple[type[OrderRecord], tuple[str, ...], tuple[int, ...], int]:
    """OrderRecord, its fields in order (a slotted dataclass), where its times are, where its phone is."""
    from orders.records import TIME_FIELDS, OrderRecord  # (records imports this module)

    names: tuple[str, ...] = OrderRecord.__slots__
    return OrderRecord, names, tuple(names.index(name) for name in TIME_FIELDS), names.index("phone")


def _pack(record: OrderRecord) -> bytes:
    _cls, names, times, phone_at = _layout()
    values = [getattr(record, name) for name in names]
    for at in times:
        if values[at] is not None:
            values[at] = (values[at] - _EPOCH) // _MICROSECOND
    phone = values[phone_at]
    values[phone_at] = tuple(getattr(phone, field) for field in _PHONE_FIELDS)
    return marshal.dumps(values)


def _unpack(data: bytes) -> OrderRecord:
    cls, _names, times, phone_at = _layout()
    values = marshal.loads(data)  # noqa: S302 - marshalled by this module, in this process
    for at in times:
        if values[at] is not None:
            values[at] = _EPOCH + values[at] * _MICROSECOND
    values[phone_at] = PhoneVerdict(*values[phone_at])
    return cls(*values)
