"""Values in the form the drivers store them, and the order columns an import writes.

Kept free of SQLAlchemy: the import's reader process (orders.feed) prepares rows with these and should
not pay for loading the whole data layer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

# Order columns an import compares to decide created / updated / unchanged.
COMPARED_COLUMNS = (
    "status",
    "status_text",
    "total_fen",
    "paid_fen",
    "refund_fen",
    "item_count",
    "products",
    "first_product",
    "ordered_at",
    "paid_at",
    "completed_at",
    "profile_id",
    "phone_hint",
    "hint_kind",
    "hint_last4",
    "receiver_name",
    "receiver_city",
)
# The columns of an order as the importer writes it, in the order of its record tuples.
ORDER_WRITE_COLUMNS = (
    "platform", "order_no", *COMPARED_COLUMNS, "raw", "cells", "import_run_id", "created_at", "updated_at"
)  # fmt: skip


def utc_text(moment: datetime) -> str:
    """A UTC time as the exact text SQLAlchemy's SQLite DateTime stores (naive UTC), for driver-level writes."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            raise ValueError(f"naive datetime {moment!r} given to a UTC column")
        moment = moment.astimezone(UTC)
    # An aware UTC time ends in "+00:00": cutting it off costs a third of strftime's "%Y-%m-%d %H:%M:%S.%f".
    return moment.isoformat(" ", "microseconds")[:26]


def sqlite_time(value: datetime | None) -> str | None:
    """`utc_text` for a column that may be empty."""
    return None if value is None else utc_text(value)


# One encoder for every document: json.dumps with options builds a new encoder each call, and an
# import writes a document or two per order and per profile.
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def json_text(value: Any) -> str:
    """A JSON document as compact UTF-8 text, for driver-level writes."""
    return _COMPACT.encode(value)


# Exported cells sealed under the data key (`orders.cells`) are packed rather than JSON: a version byte,
# then the lines joined by the record separator and each line's cells by the unit separator, as UTF-8.
# Encoding an order's cells as JSON cost about a sixth of the import's reading (5 us of 33 a row); this
# costs a fifth of that, and the blob is opened only to export a person's data. A cell that holds a
# separator itself (exports hardly ever carry control characters) keeps the exact JSON form, which
# starts with "[" and is how cells were sealed before.
_PACKED = b"\x01"
_LINES, _CELLS = "\x1e", "\x1f"


def pack_cells(lines: list[list[str]]) -> bytes:
    """An order's exported cells (one list per line) as the bytes that are sealed; see `unpack_cells`."""
    # An empty line, or no line at all, would read back as one empty cell: JSON keeps those exact.
    if not lines or not all(lines):
        return json_text(lines).encode()
    if len(lines) == 1:  # order-level files: nearly every order
        text = _CELLS.join(lines[0])
        separators = len(lines[0]) - 1
    else:
        text = _LINES.join(_CELLS.join(cells) for cells in lines)
        separators = len(lines) - 1 + sum(len(cells) - 1 for cells in lines)
    if text.count(_CELLS) + text.count(_LINES) == separators:
        return _PACKED + text.encode()
    return json_text(lines).encode()


def unpack_cells(data: bytes) -> list[list[str]]:
    """What `pack_cells` packed, or the JSON text of cells sealed before packing existed."""
    if data[:1] == _PACKED:
        return [line.split(_CELLS) for line in data[1:].decode().split(_LINES)]
    cells: list[list[str]] = json.loads(data)
    return cells


def cells_by_header(raw: Any, headers: list[str]) -> list[dict[str, str]]:
    """An order's stored `raw` cells as one {header: cell} per exported line, blank cells left out.

    Imports store each line's cells by position and the file's headers once, on the import run.
    Orders written before that kept one {header: cell} document with the other lines under `_lines`.
    """
    if isinstance(raw, dict):
        return [{name: cell for name, cell in raw.items() if name != "_lines"}, *raw.get("_lines", [])]
    lines: list[dict[str, str]] = []
    for cells in raw or []:
        named = {}
        for position, cell in enumerate(cells):
            if cell.strip():
                named[headers[position] if position < len(headers) else f"#{position + 1}"] = cell
        lines.append(named)
    return lines
