"""Everything held about a person, as one JSON document (the right of access)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

import storage.models  # noqa: F401  (every table must be registered before the walk)
from base.vault import PhoneVault
from identity.erase import subject_keys
from identity.subjects import Subject
from storage.formats import cells_by_header, unpack_cells
from storage.personal_data import import_run_headers, rows_of_subject

# Sections named in the document; any other table holding the person's rows appears under "other".
SECTIONS = {
    "followers": "followers",
    "follower_links": "links",
    "consents": "consents",
    "orders": "orders",
    "pushes": "pushes",
    "inbound_events": "inbound_events",
    "domain_events": "domain_events",
    "link_clicks": "link_clicks",
    "audit_log": "audit",
}
# Internal machinery: lookup hashes, lock leases and code hashes mean nothing to the person.
HIDDEN_COLUMNS = {
    "profiles": {"phone_key", "phone_sealed"},
    "conversation_states": {"lock_owner", "lock_until"},
    "sms_codes": {"code_hash", "phone_key"},
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _row(table: str, mapping: Any) -> dict[str, Any]:
    hidden = HIDDEN_COLUMNS.get(table, set())
    return {key: _plain(value) for key, value in mapping.items() if key not in hidden}


async def _name_order_cells(connection: AsyncConnection, orders: list[dict[str, Any]], data_key: bytes) -> None:
    """Give each order's exported cells their column names, from the run that imported them (cells
    sealed under the data key are opened first)."""
    headers = await import_run_headers(
        connection, (order["import_run_id"] for order in orders if order["import_run_id"] is not None)
    )
    vault = PhoneVault(data_key)
    for order in orders:
        sealed = order.pop("cells", None)
        raw = unpack_cells(vault.unseal_bytes(bytes.fromhex(sealed))) if sealed else order["raw"]
        order["raw"] = cells_by_header(raw, headers.get(order["import_run_id"], []))


async def export_subject(
    session: AsyncSession, subject: Subject, *, now: datetime, data_key: bytes = b""
) -> dict[str, Any]:
    """The person's data from every table, grouped by what it is; the phone number in clear (and the
    cells of their orders, which need `data_key` when they were sealed under it)."""
    keys = subject_keys(subject)
    connection = await session.connection()
    document: dict[str, Any] = {
        "generated_at": now.isoformat(),
        "phone": subject.e164,
        "profile": None,
        **{section: [] for section in SECTIONS.values()},
        "other": {},
    }
    if subject.profile is not None:
        document["profile"] = _row("profiles", subject.profile.model_dump())
    for table in SQLModel.metadata.sorted_tables:
        if table.name == "profiles":
            continue
        rows = [_row(table.name, r) for r in await rows_of_subject(connection, table, keys, ordered=True)]
        if not rows:
            continue
        if table.name == "orders":
            await _name_order_cells(connection, rows, data_key)
        section = SECTIONS.get(table.name)
        if section is not None:
            document[section] = rows
        else:
            document["other"][table.name] = rows
    return document
