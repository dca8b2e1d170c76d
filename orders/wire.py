"""Orders in the form the writer stores them: plain tuples, JSON as text, times as the driver takes them.

The reader turns each `OrderRecord` into a `WIRE_COLUMNS` tuple once, where the work is cheapest to
move (a worker process for big files, see `orders.feed`), so the writer only adds the profile link and
the bookkeeping columns. Tuples of strings and ints also cross a process boundary far faster than
dataclasses of datetimes would.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from base.phones import EMPTY, MOBILE
from base.vault import PhoneVault
from orders.privacy import mask_digits, mask_reject
from orders.records import Batch, OrderRecord, RejectedRow
from storage.formats import ORDER_WRITE_COLUMNS, json_text, pack_cells, sqlite_time

# The order columns a reader fills, in the order of a wire tuple: what the importer writes, less the
# platform, the profile link and the bookkeeping, which the writer adds.
WIRE_COLUMNS = tuple(
    name
    for name in ORDER_WRITE_COLUMNS
    if name not in ("platform", "profile_id", "import_run_id", "created_at", "updated_at")
)
WIRE_TIMES = frozenset({"ordered_at", "paid_at", "completed_at"})
WIRE_DOCUMENTS = frozenset({"products", "raw"})
# What an order sealed under the data key keeps as `raw` (its cells are in `cells`).
SEALED_RAW = "[]"
_NOT_HINTS = frozenset({MOBILE, EMPTY})
# One encoder for every order's cells: json.dumps would build a new one per call.
_encode_cells = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# Titles repeat across a file: each single-product list is encoded once (bounded, for memory).
_PRODUCTS_CACHE_LIMIT = 50_000


def time_converter(dialect: str) -> Callable[[datetime | None], Any]:
    """How a wire tuple carries times for `dialect`: SQLite text, or aware datetimes for PostgreSQL."""
    return (lambda value: value) if dialect == "postgresql" else sqlite_time


@dataclass
class WireBatch:
    """One batch of a file, ready for the writer."""

    orders: list[tuple[Any, ...]]
    # The phone lookup key of each order (None: no phone that may key a profile).
    keys: list[str | None]
    # Lookup key -> (E.164, receiver name, receiver city) of the batch's usable phones.
    people: dict[str, tuple[str, str | None, str | None]]
    rejects: list[RejectedRow]
    rows_read: int
    position: int
    hints: Counter[str] = field(default_factory=Counter)
    erased: int = 0


class WireEncoder:
    """Turns reader batches into wire batches; one per file (it caches per-file work).

    With a data key, it seals each order's exported cells into one blob (`cells`; `raw` is left empty),
    keeps weak phone hints masked, and masks the personal cells of rejected rows (`phone_headers`,
    `personal_headers`: the file's phone columns, and its name and address columns). It runs where the
    file is read (a worker process for big files), so the encryption costs the writer nothing.
    """

    def __init__(
        self,
        platform: str,
        dialect: str,
        vault: PhoneVault,
        is_erased: Callable[[str], bool] | None = None,
        *,
        phone_headers: frozenset[str] = frozenset(),
        personal_headers: frozenset[str] = frozenset(),
    ) -> None:
        self._platform = platform
        self._time = time_converter(dialect)
        self._vault = vault
        self._sealing = vault.encrypted
        self._is_erased = is_erased
        self._products: dict[str, str] = {}
        self._phone_headers, self._personal_headers = phone_headers, personal_headers

    def _products_text(self, products: list[str]) -> str:
        if len(products) != 1:
            return json_text(products)
        encoded = self._products.get(products[0])
        if encoded is None:
            encoded = json_text(products)
            if len(self._products) >= _PRODUCTS_CACHE_LIMIT:
                self._products.clear()
            self._products[products[0]] = encoded
        return encoded

    def order(self, record: OrderRecord) -> tuple[Any, ...]:
        """One order as a `WIRE_COLUMNS` tuple."""
        phone, time = record.phone, self._time
        hint = phone.kind not in _NOT_HINTS
        products = record.products
        # Exports often repeat one stamp as order, payment and completion time: convert it once.
        ordered = time(record.ordered_at)
        paid = ordered if record.paid_at == record.ordered_at else time(record.paid_at)
        completed = paid if record.completed_at == record.paid_at else time(record.completed_at)
        hint_text = phone.hint[:40] if hint else None
        if self._sealing:
            raw, cells = SEALED_RAW, self._vault.seal_bytes(pack_cells(record.raw))
            if hint_text:
                hint_text = mask_digits(hint_text)
        else:
            raw, cells = _encode_cells(record.raw), None
        return (
            record.order_no,
            record.status,
            record.status_text[:60],
            record.total_fen,
            record.paid_fen,
            record.refund_fen,
            record.item_count,
            self._products_text(products),
            products[0] if products else None,
            ordered,
            paid,
            completed,
            hint_text,
            phone.kind if hint else None,
            phone.last4 if hint else None,
            record.receiver_name,
            record.receiver_city,
            raw,
            cells,
        )

    def batch(self, batch: Batch) -> WireBatch:
        """A reader batch as a wire batch; erased people's orders are dropped and counted."""
        orders: list[tuple[Any, ...]] = []
        keys: list[str | None] = []
        people: dict[str, tuple[str, str | None, str | None]] = {}
        hints: Counter[str] = Counter()
        erased = 0
        lookup_key, is_erased = self._vault.lookup_key, self._is_erased
        for record in batch.orders:
            phone = record.phone
            e164 = phone.e164
            if e164 is not None and is_erased is not None and is_erased(e164):
                erased += 1
                continue
            if phone.kind not in _NOT_HINTS:
                hints[phone.kind] += 1
            key = None
            if phone.kind == MOBILE and e164:
                key = lookup_key(e164)
                known = people.get(key)
                # The first receiver name seen for a number wins; a nameless first sighting gives way.
                if known is None or (known[1] is None and record.receiver_name):
                    people[key] = (e164, record.receiver_name, record.receiver_city)
            orders.append(self.order(record))
            keys.append(key)
        rejects = batch.rejects
        if self._sealing and rejects:
            phones, personal = self._phone_headers, self._personal_headers
            rejects = [mask_reject(row, phones, personal) for row in rejects]
        return WireBatch(orders, keys, people, rejects, batch.rows_read, batch.position, hints, erased)


def order_payload(platform: str, wire: tuple[Any, ...], amount: int, ordered_at: datetime | None) -> str:
    """The JSON payload of an order's domain events, written as text directly (a fraction of json.dumps
    on a dict). The writer builds it only for the orders it writes events for: most orders of a file are
    too old to have any (orders.writer.EVENTS_WITHIN)."""
    # Order numbers and platform names hold only [0-9A-Za-z_-] (see orders.cells.clean_order_no), and
    # the product list is JSON text already, so nothing here needs escaping.
    products, first_product = wire[7], wire[8]
    if first_product is None:
        product = "null"
    elif products.count('","') == 0 and products.startswith('["'):
        product = products[1:-1]  # the one title of the list, as JSON text
    else:
        product = json_text(first_product)
    when = "null" if ordered_at is None else f'"{ordered_at.astimezone(UTC).isoformat()}"'
    return (
        f'{{"order_no":"{wire[0]}","platform":"{platform}","amount_fen":{int(amount)},"product":{product},'
        f'"ordered_at":{when}}}'
    )
