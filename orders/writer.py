"""Writing one batch of orders: profiles found or created, orders upserted, events and rejects stored.

A batch is one transaction. Upserts are idempotent, so a batch that was committed before a crash is
found "unchanged" when the file is imported again, and the run converges on the state of one clean run.
The batch arrives as wire tuples (`orders.wire`): the writer only adds the profile link and bookkeeping.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from base.vault import PhoneVault
from orders.cells import COMPLETED, PURCHASED, REFUNDED
from orders.dryrun import DryRunMemory
from orders.idset import IdSet
from orders.wire import WIRE_COLUMNS, WIRE_DOCUMENTS, WIRE_TIMES, WireBatch, order_payload, time_converter
from storage.formats import COMPARED_COLUMNS, ORDER_WRITE_COLUMNS
from storage.orders import (
    DOMAIN_EVENTS,
    EVENT_COLUMNS,
    insert_records,
    insert_rejects,
    lock_profiles,
    purchased_profiles,
    stored_orders,
    upsert_orders,
)
from storage.profiles import (
    NewPerson,
    create_profiles,
    fill_missing_details,
    lacking_details,
    profile_ids,
    stored_time,
)

# Where each field sits in an ORDER_WRITE_COLUMNS record.
_AT = {name: position for position, name in enumerate(ORDER_WRITE_COLUMNS)}
_PROFILE_AT = _AT["profile_id"]
_SPLIT = WIRE_COLUMNS.index("phone_hint")  # wire fields before this go before profile_id
_LAYOUT = ("platform", *WIRE_COLUMNS[:_SPLIT], "profile_id", *WIRE_COLUMNS[_SPLIT:], "import_run_id", "created_at")
assert (*_LAYOUT, "updated_at") == ORDER_WRITE_COLUMNS, "a record is platform + wire tuple + bookkeeping"
_ORDERED_AT, _PAID_AT, _COMPLETED_AT = _AT["ordered_at"], _AT["paid_at"], _AT["completed_at"]
_TOTAL_FEN_AT, _PAID_FEN_AT, _REFUND_FEN_AT = _AT["total_fen"], _AT["paid_fen"], _AT["refund_fen"]
# Domain events are written only for orders this recent (by their latest time) when imported: the
# journeys' purchase window (journeys.enrolment.ORDER_ENROLS_WITHIN, which a test keeps equal). An older
# order can neither start a journey nor reach the goal of one, so its events would only cost the import
# (they were about half of what it stored). It still counts in profiles, RFM and reports, and the
# profile's page lists it from the orders table.
EVENTS_WITHIN = timedelta(days=7)


@dataclass
class BatchOutcome:
    """What one batch did; applied to the report only once its transaction committed."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    new_profile_ids: set[int] = field(default_factory=set)
    new_profile_keys: set[str] = field(default_factory=set)
    changed_profile_ids: set[int] = field(default_factory=set)
    profile_ids: set[int] = field(default_factory=set)
    purchased_profile_ids: set[int] = field(default_factory=set)


class BatchWriter:
    """Writes batches of one file's orders; holds what must be known across batches of the run."""

    def __init__(
        self,
        *,
        dialect: str,
        vault: PhoneVault,
        platform: str,
        provided: frozenset[str],
        run_id: int | None,
        memory: DryRunMemory | None = None,
    ) -> None:
        """`run_id` None: a dry run, which needs `memory` (the caller closes it)."""
        self.dialect = dialect
        self.vault = vault
        self.platform = platform
        self.run_id = run_id
        self.links_profiles = "profile_id" in provided
        self.compared = [name for name in COMPARED_COLUMNS if name in provided]
        self._current = _tuple_getter([_AT[name] for name in self.compared])
        # Positions (in `compared`) of values stored as JSON, whose text may be spelled differently.
        self._documents = {index for index, name in enumerate(self.compared) if name in WIRE_DOCUMENTS}
        self._times = {index for index, name in enumerate(self.compared) if name in WIRE_TIMES}
        # A column the file lacks is never overwritten: another export of the order may have filled it.
        self.update_columns = [*self.compared, "raw", "cells", "import_run_id", "updated_at"]
        self.dry_run = run_id is None
        if self.dry_run and memory is None:
            raise ValueError("a dry run needs a DryRunMemory")
        self._memory = memory
        self._time = time_converter(dialect)
        # Known from this run's batches: profiles it created, whose orders are all this run's, and
        # profiles it already wrote a purchase for. Together they spare the database a purchase-history
        # lookup for most profiles of a big file. Batches of the open transaction count too (their
        # writes are visible to it), but are forgotten if it rolls back.
        self.created_here = IdSet()
        self._purchased_here = IdSet()
        self._open_created: set[int] = set()
        self._open_purchased: set[int] = set()

    def written(self, outcome: BatchOutcome) -> None:
        """Learn from a batch written in the open transaction."""
        self._open_created |= outcome.new_profile_ids
        self._open_purchased |= outcome.purchased_profile_ids

    def committed(self) -> None:
        """The open transaction committed: what its batches taught is now true for good."""
        self.created_here.update(self._open_created)
        self._purchased_here.update(self._open_purchased)
        self.rolled_back()

    def rolled_back(self) -> None:
        """The open transaction rolled back: forget what its batches taught."""
        self._open_created, self._open_purchased = set(), set()

    async def _profiles(
        self, conn: AsyncConnection, batch: WireBatch, now: datetime, outcome: BatchOutcome
    ) -> dict[str, int]:
        """Profile id per lookup key of the batch, creating the missing profiles."""
        if not self.links_profiles or not batch.people:
            return {}
        people = {key: NewPerson(*person) for key, person in batch.people.items()}
        ids = await profile_ids(conn, list(people))
        missing = {key: person for key, person in people.items() if key not in ids}
        if self._memory is not None:
            outcome.new_profile_keys = await asyncio.to_thread(self._memory.unseen_profiles, missing)
            created: dict[str, int] = {}
        else:
            created = await create_profiles(conn, self.vault, missing, now)
            outcome.new_profile_ids = set(created.values())
            ids.update(created)
            if len(created) < len(missing):  # another import created these after the look: theirs
                ids.update(await profile_ids(conn, [key for key in missing if key not in created]))
        # A profile that existed before gets a name or city from the file only where it has none.
        offering = [key for key in ids if key not in created and (people[key].name or people[key].city)]
        fills: list[dict[str, Any]] = []
        for key, (name, city) in (await lacking_details(conn, offering)).items():
            person = people[key]
            if (name is None and person.name) or (city is None and person.city):
                fills.append({"profile_id": ids[key], "new_name": person.name, "new_city": person.city})
                outcome.changed_profile_ids.add(ids[key])
        if fills and not self.dry_run:
            await fill_missing_details(conn, fills, now)
        return ids

    def _same(self, before: tuple[Any, ...] | None, current: tuple[Any, ...]) -> bool:
        """Whether stored values equal the file's: exactly, or once JSON and times are decoded
        (rows written by other code, and PostgreSQL's JSONB, spell the same values differently)."""
        if before is None or before == current:
            return before is not None
        for index, (old, new) in enumerate(zip(before, current, strict=True)):
            if old == new:
                continue
            if index in self._documents:
                if _decoded(old) == _decoded(new):
                    continue
            elif index in self._times and stored_time(old) == stored_time(new):
                continue
            return False
        return True

    async def write(self, conn: AsyncConnection, batch: WireBatch, now: datetime) -> BatchOutcome:
        """Write one batch in the caller's transaction and say what changed."""
        outcome = BatchOutcome()
        profile_of = await self._profiles(conn, batch, now, outcome)
        platform, run_id, stamp = self.platform, self.run_id, self._time(now)
        link = profile_of.get
        records = [
            (platform, *wire[:_SPLIT], None if key is None else link(key), *wire[_SPLIT:], run_id, stamp, stamp)
            for wire, key in zip(batch.orders, batch.keys, strict=True)
        ]
        existing = await stored_orders(conn, platform, [wire[0] for wire in batch.orders], self.compared)
        if self._memory is not None:
            await self._count_only(self._memory, records, existing, outcome)
            return outcome
        status_index = self.compared.index("status") if "status" in self.compared else None
        cutoff = self._time(now - EVENTS_WITHIN)
        to_write: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        newly_purchased: dict[int, list[tuple[tuple[Any, ...], str, bool]]] = defaultdict(list)
        current_of = self._current
        for record in records:
            order_no, profile_id = record[1], record[_PROFILE_AT]
            before = existing.get(order_no)
            if self._same(before, current_of(record)):
                outcome.unchanged += 1
            else:
                outcome.created += before is None
                outcome.updated += before is not None
                to_write.append(record)
                if profile_id is not None:
                    outcome.changed_profile_ids.add(profile_id)
                    old_status = before[status_index] if before is not None and status_index is not None else None
                    if before is None or status_index is not None:
                        recent = _recent(record, cutoff)
                        payload = _payload(record) if recent else ""  # an old order gets no event
                        if recent:
                            events.extend(self._status_events(record, payload, old_status, stamp))
                        if record[_AT["status"]] in PURCHASED and old_status not in PURCHASED:
                            # Old purchases too: they are history that makes a recent one a repeat.
                            newly_purchased[profile_id].append((record, payload, recent))
            if profile_id is not None:
                outcome.profile_ids.add(profile_id)
        events.extend(await self._purchase_events(conn, newly_purchased, stamp, outcome.new_profile_ids))
        outcome.purchased_profile_ids = set(newly_purchased)
        # No order of the batch existed a moment ago: on PostgreSQL, plain copies (a concurrent import
        # that adds one meanwhile makes them fail, and the transaction is written again, finding it).
        # The events keyed by those orders cannot exist either; a first purchase is keyed by its profile
        # and still may. (SQLite reads outside the write transaction, so it keeps ON CONFLICT.)
        all_new = not existing and self.dialect == "postgresql"
        await upsert_orders(conn, to_write, self.update_columns, all_new=all_new)
        events.sort(key=itemgetter(4))  # by dedup key: one lock order for concurrent importers
        if all_new:
            fresh = [event for event in events if event[0] != "first_purchase"]
            events = [event for event in events if event[0] == "first_purchase"]
            await insert_records(conn, DOMAIN_EVENTS, EVENT_COLUMNS, fresh, None)
        await insert_records(conn, DOMAIN_EVENTS, EVENT_COLUMNS, events, "(dedup_key) DO NOTHING")
        await insert_rejects(
            conn,
            [
                {
                    "import_run_id": self.run_id,
                    "line_no": reject.line_no,
                    "reason": reject.reason,
                    "detail": reject.detail[:300],
                    "cells": reject.cells,
                }
                for reject in batch.rejects
            ],
        )
        return outcome

    async def _count_only(
        self,
        memory: DryRunMemory,
        records: list[tuple[Any, ...]],
        existing: dict[str, tuple[Any, ...]],
        outcome: BatchOutcome,
    ) -> None:
        """A dry run's counts for one batch, as a real run would count them. An order an earlier batch of
        the file had is compared with that row through its digest: the database no longer holds it."""
        current_of = self._current
        digests = {record[1]: hash(current_of(record)) for record in records}
        seen = await asyncio.to_thread(memory.order_digests, list(digests))
        for record in records:
            order_no, profile_id = record[1], record[_PROFILE_AT]
            if order_no in seen:
                same, new = seen[order_no] == digests[order_no], False
            else:
                before = existing.get(order_no)
                same, new = self._same(before, current_of(record)), before is None
            if same:
                outcome.unchanged += 1
            else:
                outcome.created += new
                outcome.updated += not new
                if profile_id is not None:
                    outcome.changed_profile_ids.add(profile_id)
            if profile_id is not None:
                outcome.profile_ids.add(profile_id)
        await asyncio.to_thread(memory.remember, digests, outcome.new_profile_keys)

    def _status_events(
        self, record: tuple[Any, ...], payload: str, old_status: str | None, stamp: Any
    ) -> list[tuple[Any, ...]]:
        status = record[_AT["status"]]
        key_tail = f"{record[0]}:{record[1]}"
        if status == COMPLETED and old_status != COMPLETED:
            at = record[_AT["completed_at"]] or stamp
            return [_event("order_completed", f"order_completed:{key_tail}", record, payload, at)]
        if status == REFUNDED and old_status != REFUNDED:
            ordered_at = stored_time(record[_AT["ordered_at"]])
            # record[1:] starts like a wire tuple (the fields order_payload reads come before the split).
            refund = order_payload(record[0], record[1:], record[_AT["refund_fen"]], ordered_at)
            return [_event("order_refunded", f"order_refunded:{key_tail}", record, refund, stamp)]
        return []

    async def _purchase_events(
        self,
        conn: AsyncConnection,
        newly_purchased: dict[int, list[tuple[tuple[Any, ...], str, bool]]],
        stamp: Any,
        created_now: set[int],
    ) -> list[tuple[Any, ...]]:
        """first_purchase for a profile's first purchase ever, repeat_purchase for every later one (only
        for recent orders: an old purchase is written without an event, as history)."""
        if not newly_purchased:
            return []
        # No other import can have written orders of a profile this transaction created (on SQLite it
        # holds the write lock; on PostgreSQL the new row is invisible to others until it commits), and a
        # profile this run wrote a purchase for has one for good. Every other profile may have got its
        # first purchase from a concurrent import since this run last looked, even one this run created
        # in an earlier transaction: its history is read under a lock on the profile's row, which every
        # importer takes before deciding "first", so two imports can never both decide it.
        # Plain sets first: most profiles of a big file are answered there, before the bitmaps.
        open_bought, bought_here, open_created = self._open_purchased, self._purchased_here, self._open_created
        unknown: list[int] = []
        with_history: set[int] = set()
        for pid in newly_purchased:
            if pid in open_bought or pid in bought_here:
                with_history.add(pid)
            elif pid not in created_now and pid not in open_created:
                unknown.append(pid)
        if unknown:
            unknown.sort()
            await lock_profiles(conn, unknown)
            with_history |= await purchased_profiles(conn, unknown, PURCHASED)
        events: list[tuple[Any, ...]] = []
        ordered_at, paid_at = _AT["ordered_at"], _AT["paid_at"]
        for profile_id, purchases in newly_purchased.items():
            if len(purchases) > 1:
                purchases.sort(key=lambda item: (item[0][ordered_at] is None, item[0][ordered_at] or stamp, item[0][1]))
            for position, (record, payload, recent) in enumerate(purchases):
                if not recent:
                    continue
                at = record[paid_at] or record[ordered_at] or stamp
                if position == 0 and profile_id not in with_history:
                    events.append(_event("first_purchase", f"first_purchase:{profile_id}", record, payload, at))
                else:
                    key = f"repeat_purchase:{record[0]}:{record[1]}"
                    events.append(_event("repeat_purchase", key, record, payload, at))
        return events


def _recent(record: tuple[Any, ...], cutoff: Any) -> bool:
    """Whether an order's latest time is at or after `cutoff` (both in the driver's form), or it has none."""
    ordered, paid, completed = record[_ORDERED_AT], record[_PAID_AT], record[_COMPLETED_AT]
    if completed is not None and completed >= cutoff:
        return True  # the usual recent order is settled by its last time alone
    if paid is not None and paid >= cutoff:
        return True
    if ordered is not None:
        return bool(ordered >= cutoff)
    return paid is None and completed is None


def _payload(record: tuple[Any, ...]) -> str:
    """The payload of an order's purchase and completion events (see orders.wire.order_payload)."""
    amount = (record[_PAID_FEN_AT] or record[_TOTAL_FEN_AT] or 0) - record[_REFUND_FEN_AT]
    # record[1:] starts like a wire tuple (the fields order_payload reads come before the split).
    return order_payload(record[0], record[1:], amount, stored_time(record[_ORDERED_AT]))


def _event(kind: str, key: str, record: tuple[Any, ...], payload: str, at: Any) -> tuple[Any, ...]:
    """A domain event as an `EVENT_COLUMNS` record; `at` is already in the driver's form."""
    return (kind, at, record[_PROFILE_AT], payload, key, None, None, None)


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _tuple_getter(positions: list[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """The values at `positions` of a record, always as a tuple (itemgetter of one position is not)."""
    if len(positions) > 1:
        return itemgetter(*positions)
    if positions:
        only = positions[0]
        return lambda record: (record[only],)
    return lambda _record: ()
