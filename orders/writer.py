"""Writing one batch of orders: profiles found or created, orders upserted, events and rejects stored.

A batch is one transaction. Upserts are idempotent, so a batch that was committed before a crash is
found "unchanged" when the file is imported again, and the run converges on the state of one clean run.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from identity.vault import PhoneVault
from orders.cells import COMPLETED, PURCHASED, REFUNDED
from orders.records import OrderRecord, RejectedRow
from storage.orders import (
    COMPARED_COLUMNS,
    existing_orders,
    insert_domain_events,
    insert_rejects,
    purchased_profiles,
    stamp,
    upsert_orders,
)
from storage.profiles import NewPerson, create_profiles, fill_missing_details, find_profiles


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
    dry_run_seen: dict[str, tuple[Any, ...]] = field(default_factory=dict)


def order_values(record: OrderRecord, platform: str, profile_id: int | None) -> dict[str, Any]:
    """The order's columns as stored (profile link and phone hint included)."""
    phone = record.phone
    hint = phone.kind not in ("mobile", "empty")
    return {
        "platform": platform,
        "order_no": record.order_no,
        "status": record.status,
        "status_text": record.status_text[:60],
        "total_fen": record.total_fen,
        "paid_fen": record.paid_fen,
        "refund_fen": record.refund_fen,
        "item_count": record.item_count,
        "products": record.products,
        "first_product": record.first_product,
        "ordered_at": record.ordered_at,
        "paid_at": record.paid_at,
        "completed_at": record.completed_at,
        "profile_id": profile_id,
        "phone_hint": phone.hint[:40] if hint else None,
        "hint_kind": phone.kind if hint else None,
        "hint_last4": phone.last4 if hint else None,
        "receiver_name": record.receiver_name,
        "receiver_city": record.receiver_city,
        "raw": record.raw,
    }


_product_json: dict[str | None, str] = {}


def _json_text_of(product: str | None) -> str:
    """A product title as JSON text; titles repeat across orders, so each is encoded once."""
    encoded = _product_json.get(product)
    if encoded is None:
        encoded = json.dumps(product, ensure_ascii=False)
        if len(_product_json) >= 50_000:
            _product_json.clear()
        _product_json[product] = encoded
    return encoded


def _event(kind: str, key: str, values: dict[str, Any], amount: int, at: datetime) -> dict[str, Any]:
    # The payload is written as JSON text directly: an import emits more events than it has orders,
    # and building the text here costs a fraction of json.dumps on a dict. Order numbers and platform
    # names hold only [0-9A-Za-z_-] (see orders.cells.clean_order_no), so they need no escaping.
    ordered_at = values["ordered_at"]
    payload = (
        f'{{"order_no":"{values["order_no"]}","platform":"{values["platform"]}","amount_fen":{int(amount)},'
        f'"product":{_json_text_of(values["first_product"])},'
        f'"ordered_at":{"null" if ordered_at is None else chr(34) + ordered_at.isoformat() + chr(34)}}}'
    )
    return {"kind": kind, "occurred_at": at, "profile_id": values["profile_id"], "payload": payload, "dedup_key": key}


class BatchWriter:
    """Writes batches of one file's orders; holds what must be known across batches of the run."""

    def __init__(
        self, *, dialect: str, vault: PhoneVault, platform: str, provided: frozenset[str], run_id: int | None
    ) -> None:
        self.dialect = dialect
        self.vault = vault
        self.platform = platform
        self.run_id = run_id
        self.links_profiles = "profile_id" in provided
        self.compared = [name for name in COMPARED_COLUMNS if name in provided]
        # A column the file lacks is never overwritten: another export of the order may have filled it.
        self.update_columns = [*self.compared, "raw", "import_run_id", "updated_at"]
        self.dry_run = run_id is None
        self.dry_run_seen: dict[str, tuple[Any, ...]] = {}
        self.dry_run_profile_keys: set[str] = set()

    async def _profiles(
        self, conn: AsyncConnection, orders: list[OrderRecord], now: datetime, outcome: BatchOutcome
    ) -> dict[str, int]:
        """Profile id per E.164 number of the batch, creating the missing profiles."""
        if not self.links_profiles:
            return {}
        people: dict[str, NewPerson] = {}
        for record in orders:
            if record.phone.is_key and record.phone.e164:
                key = self.vault.lookup_key(record.phone.e164)
                known = people.get(key)
                if known is None or (known.name is None and record.receiver_name):
                    people[key] = NewPerson(record.phone.e164, record.receiver_name, record.receiver_city)
        known_profiles = await find_profiles(conn, self.dialect, list(people))
        missing = {key: person for key, person in people.items() if key not in known_profiles}
        if self.dry_run:
            outcome.new_profile_keys = set(missing) - self.dry_run_profile_keys
            self.dry_run_profile_keys |= set(missing)
        elif missing:
            await create_profiles(conn, self.dialect, self.vault, missing, now)
            created = await find_profiles(conn, self.dialect, list(missing))
            outcome.new_profile_ids = {known.id for known in created.values()}
            known_profiles.update(created)
        fills: list[dict[str, Any]] = []
        for key, profile in known_profiles.items():
            person = people[key]
            lacking = (profile.name is None and person.name) or (profile.city is None and person.city)
            if profile.id not in outcome.new_profile_ids and lacking:
                fills.append({"profile_id": profile.id, "new_name": person.name, "new_city": person.city})
                outcome.changed_profile_ids.add(profile.id)
        if fills and not self.dry_run:
            await fill_missing_details(conn, fills, now)
        return {person.e164: known_profiles[key].id for key, person in people.items() if key in known_profiles}

    async def write(
        self, conn: AsyncConnection, orders: list[OrderRecord], rejects: list[RejectedRow], now: datetime
    ) -> BatchOutcome:
        """Write one batch in the caller's transaction and say what changed."""
        outcome = BatchOutcome()
        profile_of = await self._profiles(conn, orders, now, outcome)
        rows = [order_values(record, self.platform, profile_of.get(record.phone.e164 or "")) for record in orders]
        existing = await existing_orders(conn, self.platform, [row["order_no"] for row in rows], self.compared)
        status_index = self.compared.index("status") if "status" in self.compared else None
        to_write: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        newly_purchased: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            current = tuple(row[name] for name in self.compared)
            before = existing.get(row["order_no"])
            if before is None and self.dry_run:
                before = self.dry_run_seen.get(row["order_no"])
            if before == current:
                outcome.unchanged += 1
            else:
                outcome.created += before is None
                outcome.updated += before is not None
                to_write.append(stamp(row, self.run_id, now))
                if row["profile_id"] is not None:
                    outcome.changed_profile_ids.add(row["profile_id"])
                    old_status = before[status_index] if before is not None and status_index is not None else None
                    if before is None or status_index is not None:
                        events.extend(self._status_events(row, old_status, now))
                        if row["status"] in PURCHASED and old_status not in PURCHASED:
                            newly_purchased[row["profile_id"]].append(row)
            if self.dry_run:
                self.dry_run_seen[row["order_no"]] = current
            if row["profile_id"] is not None:
                outcome.profile_ids.add(row["profile_id"])
        if self.dry_run:
            return outcome
        events.extend(await self._purchase_events(conn, newly_purchased, now))
        await upsert_orders(conn, self.dialect, to_write, self.update_columns)
        await insert_domain_events(conn, self.dialect, events)
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
                for reject in rejects
            ],
        )
        return outcome

    def _status_events(self, row: dict[str, Any], old_status: str | None, now: datetime) -> list[dict[str, Any]]:
        key_tail = f"{row['platform']}:{row['order_no']}"
        if row["status"] == COMPLETED and old_status != COMPLETED:
            amount = (row["paid_fen"] or row["total_fen"] or 0) - row["refund_fen"]
            return [_event("order_completed", f"order_completed:{key_tail}", row, amount, row["completed_at"] or now)]
        if row["status"] == REFUNDED and old_status != REFUNDED:
            return [_event("order_refunded", f"order_refunded:{key_tail}", row, row["refund_fen"], now)]
        return []

    async def _purchase_events(
        self, conn: AsyncConnection, newly_purchased: dict[int, list[dict[str, Any]]], now: datetime
    ) -> list[dict[str, Any]]:
        """first_purchase for a profile's first purchase ever, repeat_purchase for every later one."""
        if not newly_purchased:
            return []
        with_history = await purchased_profiles(conn, list(newly_purchased), PURCHASED)
        events: list[dict[str, Any]] = []
        for profile_id, rows in newly_purchased.items():
            rows.sort(key=lambda row: (row["ordered_at"] is None, row["ordered_at"] or now, row["order_no"]))
            for position, row in enumerate(rows):
                amount = (row["paid_fen"] or row["total_fen"] or 0) - row["refund_fen"]
                at = row["paid_at"] or row["ordered_at"] or now
                if position == 0 and profile_id not in with_history:
                    events.append(_event("first_purchase", f"first_purchase:{profile_id}", row, amount, at))
                else:
                    key = f"repeat_purchase:{row['platform']}:{row['order_no']}"
                    events.append(_event("repeat_purchase", key, row, amount, at))
        return events
