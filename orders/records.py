"""From text rows to orders: one `OrderRecord` per order, line-level files rolled up before totals."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from identity.phones import EMPTY, PhoneVerdict, best_phone
from orders.cells import (
    CLOSED,
    PAID,
    REFUNDED,
    CellError,
    after_sale_refunded,
    city_from_address,
    clean_order_no,
    clean_text,
    map_status,
    parse_china_time,
    parse_money,
)
from orders.presets import LINE, Preset, column_indexes
from orders.sources import Table

# Order columns each preset field fills; a column the file lacks never overwrites another file's value.
FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "status": ("status", "status_text"),
    "after_sale": ("status", "status_text"),
    "total": ("total_fen",),
    "line_price": ("total_fen",),
    "line_amount": ("total_fen",),
    "paid": ("paid_fen",),
    "refund": ("refund_fen",),
    "quantity": ("item_count",),
    "product": ("products", "first_product"),
    "ordered_at": ("ordered_at",),
    "paid_at": ("paid_at",),
    "completed_at": ("completed_at",),
    "phone": ("profile_id", "phone_hint", "hint_kind", "hint_last4"),
    "receiver_name": ("receiver_name",),
    "address": ("receiver_city",),
    "city": ("receiver_city",),
}
_MAX_RAW_LINES = 100
_NO_PHONE = PhoneVerdict(EMPTY)


@dataclass(slots=True)
class OrderRecord:
    """One order as read from a file, ready to be written."""

    order_no: str
    line_no: int
    status: str = PAID
    status_text: str = ""
    total_fen: int | None = None
    paid_fen: int | None = None
    refund_fen: int = 0
    item_count: int = 0
    products: list[str] = field(default_factory=list)
    ordered_at: datetime | None = None
    paid_at: datetime | None = None
    completed_at: datetime | None = None
    phone: PhoneVerdict = _NO_PHONE
    receiver_name: str | None = None
    receiver_city: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    # Roll-up bookkeeping for line-level files.
    line_keys: set[str] = field(default_factory=set)
    line_total_fen: int = 0
    lines: int = 0
    refunded_lines: int = 0

    @property
    def first_product(self) -> str | None:
        """The main product: the first title of the order."""
        return self.products[0] if self.products else None


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that could not become (part of) an order, with why and the cells as exported."""

    line_no: int
    reason: str
    detail: str
    cells: dict[str, str]


@dataclass
class Batch:
    """A slice of a file: orders ready to write, rows rejected, rows read so far."""

    orders: list[OrderRecord]
    rejects: list[RejectedRow]
    rows_read: int
    position: int


class OrderReader:
    """Reads a table with a preset into batches of orders; bad rows become rejects, never failures."""

    def __init__(self, table: Table, preset: Preset) -> None:
        self.table = table
        self.preset = preset
        self.indexes = column_indexes(preset, table.headers)
        self.provided: frozenset[str] = frozenset(
            column for key in self.indexes for column in FIELD_COLUMNS.get(key, ())
        )
        self.rows_read = 0
        self._single = {key: positions[0] for key, positions in self.indexes.items() if key != "phone"}
        self._phones = self.indexes.get("phone", [])

    def _cell(self, cells: list[str], key: str) -> str:
        index = self._single.get(key)
        return cells[index] if index is not None else ""

    def _raw(self, cells: list[str]) -> dict[str, str]:
        return {name: cell for name, cell in zip(self.table.headers, cells, strict=False) if cell.strip()}

    def _money(self, cells: list[str], key: str) -> int | None:
        index = self._single.get(key)
        return None if index is None else parse_money(cells[index], self.table.headers[index])

    def _time(self, cells: list[str], key: str) -> datetime | None:
        index = self._single.get(key)
        return None if index is None else parse_china_time(cells[index], self.table.headers[index])

    def _quantity(self, cells: list[str]) -> int:
        text = clean_text(self._cell(cells, "quantity"))
        if not text:
            return 0
        try:
            return int(float(text))
        except ValueError:
            raise CellError("bad_quantity", f"quantity {text!r} is not a number") from None

    def read_row(self, line_no: int, cells: list[str]) -> OrderRecord:
        """One row to an order (or to the first line of one); raises CellError for a bad cell."""
        order_no = clean_order_no(self._cell(cells, "order_no"))
        record = OrderRecord(order_no=order_no, line_no=line_no)
        if "status" in self._single:
            record.status, record.status_text = map_status(self._cell(cells, "status"))
        record.total_fen = self._money(cells, "total")
        record.paid_fen = self._money(cells, "paid")
        record.refund_fen = self._money(cells, "refund") or 0
        record.ordered_at = self._time(cells, "ordered_at")
        record.paid_at = self._time(cells, "paid_at")
        record.completed_at = self._time(cells, "completed_at")
        if record.ordered_at is None:
            record.ordered_at = record.paid_at
        if self._phones:
            record.phone = best_phone([cells[index] for index in self._phones])
        name = clean_text(self._cell(cells, "receiver_name"))
        record.receiver_name = name[:100] if name and "$" not in name and "*" not in name else None
        city = clean_text(self._cell(cells, "city"))
        record.receiver_city = (city[:60] if city and "$" not in city else None) or city_from_address(
            self._cell(cells, "address")
        )
        self._add_line(record, line_no, cells)
        record.raw = self._raw(cells)
        return record

    def _add_line(self, record: OrderRecord, line_no: int, cells: list[str]) -> None:
        """Add one item line's product, quantity and per-line money to its order."""
        if self.preset.grain == LINE and "line_no" in self._single:
            key = clean_text(self._cell(cells, "line_no")) or f"line{line_no}"
            if key in record.line_keys:
                return  # the same sub-order exported twice counts once
            record.line_keys.add(key)
        product = clean_text(self._cell(cells, "product"))
        if product:
            record.products.append(product[:200])
        quantity = self._quantity(cells)
        record.item_count += quantity
        amount = self._money(cells, "line_amount")
        if amount is None:
            price = self._money(cells, "line_price")
            amount = None if price is None else price * max(quantity, 1)
        record.line_total_fen += amount or 0
        record.lines += 1
        if after_sale_refunded(self._cell(cells, "after_sale")):
            record.refunded_lines += 1

    def _merge_line(self, record: OrderRecord, line_no: int, cells: list[str]) -> None:
        before = record.lines
        self._add_line(record, line_no, cells)
        if record.lines == before:
            return
        for key in self.preset.summed:
            value = self._money(cells, key)
            if key == "refund" and value:
                record.refund_fen += value
        if len(record.raw.setdefault("_lines", [])) < _MAX_RAW_LINES:
            record.raw["_lines"].append(self._raw(cells))

    def _reject(self, line_no: int, cells: list[str], error: CellError) -> RejectedRow:
        return RejectedRow(line_no, error.reason, str(error), dict(zip(self.table.headers, cells, strict=False)))

    def batches(self, size: int) -> Iterator[Batch]:
        """Orders in batches of about `size`; line-level files are rolled up across the whole file."""
        orders: dict[str, OrderRecord] = {}
        rejects: list[RejectedRow] = []
        rolling = self.preset.grain == LINE
        for line_no, cells in self.table.rows:
            self.rows_read += 1
            try:
                existing = orders.get(clean_order_no(self._cell(cells, "order_no"))) if rolling else None
                if existing is not None:
                    self._merge_line(existing, line_no, cells)
                else:
                    record = self.read_row(line_no, cells)
                    # Order-level files: a repeated order number later in the file wins, as a re-export would.
                    orders[record.order_no] = record
            except CellError as error:
                rejects.append(self._reject(line_no, cells, error))
            if not rolling and len(orders) >= size:
                yield Batch([finish(o) for o in orders.values()], rejects, self.rows_read, self.table.position())
                orders, rejects = {}, []
        records = [finish(record) for record in orders.values()]
        for start in range(0, max(len(records), 1), size):
            last = start + size >= len(records)
            yield Batch(records[start : start + size], rejects if last else [], self.rows_read, self.table.position())


def finish(record: OrderRecord) -> OrderRecord:
    """Order-level values derived once all lines are in: totals from lines, refunds as a status."""
    if record.total_fen is None and record.line_total_fen:
        record.total_fen = record.line_total_fen
    fully_refunded = record.lines > 0 and record.refunded_lines == record.lines
    refund_covers = record.refund_fen > 0 and record.refund_fen >= (record.paid_fen or record.total_fen or 0)
    if fully_refunded or (record.status == CLOSED and refund_covers):
        record.status = REFUNDED
        if not record.status_text:
            record.status_text = "退款成功"
    record.line_keys = set()
    return record
