"""From text rows to orders: one `OrderRecord` per order, line-level files rolled up before totals."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from base.phones import EMPTY, PhoneVerdict, best_phone
from base.vault import PhoneVault
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
from orders.rollup import OpenOrders
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
# Placeholder while a record is being built; never left on a finished record.
_NO_RAW: list[list[str]] = []


# The OrderRecord fields that hold times (orders.rollup stores them as numbers).
TIME_FIELDS = ("ordered_at", "paid_at", "completed_at")


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
    # The exported cells of each line of the order (up to _MAX_RAW_LINES), by position: the headers they
    # belong to are stored once on the import run (see `cells_by_header`), not repeated on every order.
    raw: list[list[str]] = field(default_factory=list)
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

    def __init__(self, table: Table, preset: Preset, vault: PhoneVault | None = None) -> None:
        """`vault`: with a data key, what a line-level file spills to scratch storage is sealed."""
        self.table = table
        self.preset = preset
        self._vault = vault
        self.indexes = column_indexes(preset, table.headers)
        self.provided: frozenset[str] = frozenset(
            column for key in self.indexes for column in FIELD_COLUMNS.get(key, ())
        )
        self.rows_read = 0
        self._single = {key: positions[0] for key, positions in self.indexes.items() if key != "phone"}
        self._phones = self.indexes.get("phone", [])
        # Resolved once per file: a row then costs list indexing, not look-ups by field name.
        self._headers = tuple(table.headers)
        self._rolling = preset.grain == LINE
        self._order_no_at = self._single.get("order_no")
        self._status_at = self._single.get("status")
        self._line_key_at = self._single.get("line_no") if self._rolling else None
        self._total, self._paid, self._refund = self._spot("total"), self._spot("paid"), self._spot("refund")
        self._line_amount, self._line_price = self._spot("line_amount"), self._spot("line_price")
        self._ordered_at, self._paid_at = self._spot("ordered_at"), self._spot("paid_at")
        self._completed_at = self._spot("completed_at")
        self._name_at, self._city_at = self._single.get("receiver_name"), self._single.get("city")
        self._address_at, self._product_at = self._single.get("address"), self._single.get("product")
        self._quantity_at, self._after_sale_at = self._single.get("quantity"), self._single.get("after_sale")

    def headers_of(self, *keys: str) -> frozenset[str]:
        """The header names of the columns these preset fields read (e.g. "phone": every phone column)."""
        return frozenset(self._headers[index] for key in keys for index in self.indexes.get(key, []))

    def _spot(self, key: str) -> tuple[int, str] | None:
        """(position, header) of a field's column, None when the file lacks it."""
        index = self._single.get(key)
        return None if index is None else (index, self._headers[index])

    def _raw(self, cells: list[str]) -> list[str]:
        """The line's cells as exported, up to the last that is not blank."""
        end = len(cells)
        while end and not cells[end - 1].strip():
            end -= 1
        return cells if end == len(cells) else cells[:end]

    @staticmethod
    def _money(cells: list[str], spot: tuple[int, str] | None) -> int | None:
        return None if spot is None else parse_money(cells[spot[0]], spot[1])

    @staticmethod
    def _time(cells: list[str], spot: tuple[int, str] | None) -> datetime | None:
        return None if spot is None else parse_china_time(cells[spot[0]], spot[1])

    @staticmethod
    def _text(cells: list[str], index: int | None) -> str:
        return "" if index is None else clean_text(cells[index])

    def _quantity(self, cells: list[str]) -> int:
        text = self._text(cells, self._quantity_at)
        if not text:
            return 0
        try:
            return int(float(text))
        except ValueError:
            raise CellError("bad_quantity", f"quantity {text!r} is not a number") from None

    def _order_no(self, cells: list[str]) -> str:
        index = self._order_no_at
        return clean_order_no("" if index is None else cells[index])

    def read_row(self, line_no: int, cells: list[str]) -> OrderRecord:
        """One row to an order (or to the first line of one); raises CellError for a bad cell."""
        return self._read_row(line_no, cells, self._order_no(cells))

    def _read_row(self, line_no: int, cells: list[str], order_no: str) -> OrderRecord:
        # Cells are read in a fixed order so a row with several bad cells is rejected for the first.
        status, status_text = PAID, ""
        if self._status_at is not None:
            status, status_text = map_status(cells[self._status_at])
        money, time = self._money, self._time
        total_fen, paid_fen = money(cells, self._total), money(cells, self._paid)
        refund_fen = money(cells, self._refund)
        ordered_at, paid_at = time(cells, self._ordered_at), time(cells, self._paid_at)
        record = OrderRecord(
            order_no=order_no,
            line_no=line_no,
            status=status,
            status_text=status_text,
            total_fen=total_fen,
            paid_fen=paid_fen,
            refund_fen=refund_fen or 0,
            ordered_at=paid_at if ordered_at is None else ordered_at,
            paid_at=paid_at,
            completed_at=time(cells, self._completed_at),
            raw=_NO_RAW,  # filled below, once the cells are known to be readable
        )
        if self._phones:
            record.phone = best_phone([cells[index] for index in self._phones])
        name = self._text(cells, self._name_at)
        record.receiver_name = name[:100] if name and "$" not in name and "*" not in name else None
        city = self._text(cells, self._city_at)
        record.receiver_city = (city[:60] if city and "$" not in city else None) or city_from_address(
            "" if self._address_at is None else cells[self._address_at]
        )
        self._add_line(record, line_no, cells)
        record.raw = [self._raw(cells)]
        return record

    def _add_line(self, record: OrderRecord, line_no: int, cells: list[str]) -> None:
        """Add one item line's product, quantity and per-line money to its order."""
        if self._line_key_at is not None:
            key = clean_text(cells[self._line_key_at]) or f"line{line_no}"
            if key in record.line_keys:
                return  # the same sub-order exported twice counts once
            record.line_keys.add(key)
        product = self._text(cells, self._product_at)
        if product:
            record.products.append(product[:200])
        quantity = self._quantity(cells)
        record.item_count += quantity
        amount = self._money(cells, self._line_amount)
        if amount is None:
            price = self._money(cells, self._line_price)
            amount = None if price is None else price * max(quantity, 1)
        record.line_total_fen += amount or 0
        record.lines += 1
        if self._after_sale_at is not None and after_sale_refunded(cells[self._after_sale_at]):
            record.refunded_lines += 1

    def _merge_line(self, record: OrderRecord, line_no: int, cells: list[str]) -> None:
        before = record.lines
        self._add_line(record, line_no, cells)
        if record.lines == before:
            return
        for key in self.preset.summed:
            value = self._money(cells, self._spot(key))
            if key == "refund" and value:
                record.refund_fen += value
        if len(record.raw) < _MAX_RAW_LINES:
            record.raw.append(self._raw(cells))

    def _reject(self, line_no: int, cells: list[str], error: CellError) -> RejectedRow:
        return RejectedRow(line_no, error.reason, str(error), dict(zip(self._headers, cells, strict=False)))

    def batches(self, size: int) -> Iterator[Batch]:
        """Orders in batches of about `size`; line-level files are rolled up across the whole file."""
        if self._rolling:
            yield from self._rolled_up_batches(size)
            return
        orders: dict[str, OrderRecord] = {}
        rejects: list[RejectedRow] = []
        for line_no, cells in self.table.rows:
            self.rows_read += 1
            try:
                record = self._read_row(line_no, cells, self._order_no(cells))
                # Order-level files: a repeated order number later in the file wins, as a re-export would.
                orders[record.order_no] = record
            except CellError as error:
                rejects.append(self._reject(line_no, cells, error))
            if len(orders) >= size:
                yield Batch([finish(o) for o in orders.values()], rejects, self.rows_read, self.table.position())
                orders, rejects = {}, []
        yield Batch([finish(o) for o in orders.values()], rejects, self.rows_read, self.table.position())

    def _rolled_up_batches(self, size: int) -> Iterator[Batch]:
        """Line-level files: every order stays open to more lines until the file ends (`OpenOrders` keeps
        memory flat); rejected rows go out as they gather, in batches without orders."""
        orders = OpenOrders(vault=self._vault)
        try:
            rejects: list[RejectedRow] = []
            for line_no, cells in self.table.rows:
                self.rows_read += 1
                try:
                    order_no = self._order_no(cells)
                    existing = orders.get(order_no)
                    if existing is not None:
                        self._merge_line(existing, line_no, cells)
                    else:
                        orders.add(self._read_row(line_no, cells, order_no))
                except CellError as error:
                    rejects.append(self._reject(line_no, cells, error))
                if len(rejects) >= size:
                    yield Batch([], rejects, self.rows_read, self.table.position())
                    rejects = []
            part: list[OrderRecord] = []
            for record in orders.drain():
                part.append(finish(record))
                if len(part) >= size:
                    yield Batch(part, [], self.rows_read, self.table.position())
                    part = []
            yield Batch(part, rejects, self.rows_read, self.table.position())
        finally:
            orders.close()


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
    if record.line_keys:
        record.line_keys.clear()  # only needed while rolling up; the order no longer needs them
    return record
