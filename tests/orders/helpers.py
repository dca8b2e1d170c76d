"""Small helpers for order-import tests: run an import, read tables back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from base.clock import FakeClock
from base.settings import Settings
from orders.importer import ImportOptions, import_files
from orders.report import FileReport
from storage.db import Database
from storage.formats import cells_by_header
from storage.models.core import Follower
from storage.orders import DOMAIN_EVENTS, ORDERS
from storage.profiles import PROFILES


async def run_import(
    db: Database, path: Path, clock: FakeClock | None = None, settings: Settings | None = None, **options: Any
) -> FileReport:
    """Import one file and return its report."""
    reports = await import_files(
        db, settings or Settings(), [path], clock=clock or FakeClock(), options=ImportOptions(**options)
    )
    return reports[0]


async def rows(db: Database, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of a query as dicts."""
    async with db.engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(text(sql), params)]


async def orders_by_no(db: Database) -> dict[str, dict[str, Any]]:
    """Every order keyed by its order number, with typed values (aware times, parsed JSON)."""
    async with db.engine.connect() as conn:
        return {row.order_no: dict(row._mapping) for row in await conn.execute(select(ORDERS))}


async def profiles(db: Database) -> list[dict[str, Any]]:
    """Every profile with typed values, by id."""
    async with db.engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(select(PROFILES).order_by(PROFILES.c.id))]


async def events(db: Database) -> list[dict[str, Any]]:
    """Every domain event with typed values, by id."""
    async with db.engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(select(DOMAIN_EVENTS).order_by(DOMAIN_EVENTS.c.id))]


async def link_follower(db: Database, profile_id: int, openid: str, clock: FakeClock) -> None:
    """A follower who bound the phone of this profile (what makes its segment changes reach somebody)."""
    async with db.transaction() as session:
        session.add(Follower(appid="wx-orders", openid=openid, profile_id=profile_id, created_at=clock.now(),
                             updated_at=clock.now()))  # fmt: skip


async def count(db: Database, table: str) -> int:
    """Rows in a table."""
    return int((await rows(db, f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"])  # noqa: S608 - test helper


async def exported_cells(db: Database, order_no: str) -> list[dict[str, str]]:
    """An order's exported cells, one {header: cell} per line, named by the run that wrote them."""
    found = await rows(
        db,
        "SELECT o.raw, r.headers FROM orders o JOIN import_runs r ON r.id = o.import_run_id WHERE o.order_no = :no",
        no=order_no,
    )
    (row,) = found
    raw, headers = (json.loads(v) if isinstance(v, str) else v for v in (row["raw"], row["headers"]))
    return cells_by_header(raw, headers)
