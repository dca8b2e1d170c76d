"""Profile enrichment after an import: aggregates, RFM and segments for the touched profiles only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextlib import AsyncExitStack
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from orders.cells import PURCHASED
from orders.idset import IdSet
from orders.retry import retrying
from orders.rfm import lifecycle_stage, score, segment
from storage.db import Database, take_write_lock
from storage.formats import json_text, sqlite_time
from storage.orders import DOMAIN_EVENTS, EVENT_COLUMNS, insert_records
from storage.profiles import PurchaseSummary, current_aggregates, purchase_summaries, write_aggregates

TOP_PRODUCTS = 3
# Profiles re-scored per transaction: small enough to keep locks short, large enough to stay set-based.
REFRESH_CHUNK = 10_000


def aggregate_values(summary: PurchaseSummary, now: datetime) -> dict[str, Any]:
    """Every aggregate column of a profile from its purchase summary."""
    products = summary.products
    latest: tuple[str, int, datetime | None] | None
    if len(products) > 1:
        ranked = sorted(products, key=lambda item: (-item[1], _newest_first(item[2]), item[0]))
        latest = max(products, key=lambda item: (item[2] is not None, item[2] or now))
    else:  # most buyers bought one product: nothing to rank
        ranked, latest = products, products[0] if products else None
    rfm = score(summary.order_count, summary.total_spent_fen, summary.last_order_at, now)
    named = segment(rfm)
    return {
        "order_count": summary.order_count,
        "total_spent_fen": summary.total_spent_fen,
        "avg_order_fen": summary.total_spent_fen // summary.order_count if summary.order_count else 0,
        "first_order_at": summary.first_order_at,
        "last_order_at": summary.last_order_at,
        "last_product": latest[0][:200] if latest else None,
        "top_products": [product[:200] for product, _count, _at in ranked[:TOP_PRODUCTS]],
        "r_score": rfm.recency,
        "f_score": rfm.frequency,
        "m_score": rfm.monetary,
        "segment": named,
        "lifecycle_stage": lifecycle_stage(summary.order_count, named),
    }


def _newest_first(moment: datetime | None) -> float:
    return -moment.timestamp() if moment is not None else 0.0


def segment_event(profile_id: int, values: dict[str, Any], previous: str, stamp: Any) -> tuple[Any, ...]:
    """The `segment_entered` event as an `EVENT_COLUMNS` record (`stamp`: now, in the driver's form);
    keyed by the purchase history so a re-run finds it already there."""
    last = values["last_order_at"]
    payload = json_text({"segment": values["segment"], "previous": previous, "order_count": values["order_count"]})
    key = (
        f"segment_entered:{profile_id}:{values['segment']}:{values['order_count']}:{last.isoformat() if last else '-'}"
    )
    return ("segment_entered", stamp, profile_id, payload, key, None, None, None)


async def refresh_profiles(
    db: Database,
    profile_ids: Iterable[int],
    now: datetime,
    *,
    conn: AsyncConnection | None = None,
    workers: int = 1,
) -> int:
    """Recompute aggregates of these profiles, in chunks of a transaction each (on `conn` when given, as
    an import does); returns how many profiles' stored values changed.

    With `workers` > 1, that many chunks are re-scored at once, each on a connection of its own (`conn`
    and connections of the pool): while one chunk's Python runs, another's reads run in the database
    (SQLite's thread or PostgreSQL's server process), so both cores work. Chunks hold disjoint profiles.
    """
    ordered = profile_ids if isinstance(profile_ids, IdSet) else IdSet(profile_ids)
    chunks = ordered.chunks(REFRESH_CHUNK)
    changed = 0

    async def work(own: AsyncConnection | None) -> None:
        nonlocal changed
        for part in chunks:  # one shared iterator: each chunk goes to whichever worker is free
            done = await retrying(lambda part=part: _refresh_chunk(db, own, part, now))  # type: ignore[misc]
            changed += len(done)  # after the await: `changed += await ...` would read it before

    if workers <= 1 or len(ordered) <= REFRESH_CHUNK:
        await work(conn)
        return changed
    async with AsyncExitStack() as stack:
        extra = [await stack.enter_async_context(db.engine.connect()) for _ in range(workers - 1)]
        tasks = [asyncio.ensure_future(work(own)) for own in (conn, *extra)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # The first failure is the import's; the other workers stop before their connections close.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    return changed


async def _refresh_chunk(db: Database, given: AsyncConnection | None, part: list[int], now: datetime) -> set[int]:
    if given is None:
        async with db.engine.connect() as conn:
            return await _refresh_chunk(db, conn, part, now)
    async with given.begin():
        await take_write_lock(given)
        return await _rescore(db.dialect, given, part, now)


async def _rescore(dialect: str, conn: AsyncConnection, part: list[int], now: datetime) -> set[int]:
    # Lock first, then read the orders: see current_aggregates.
    stored = await current_aggregates(conn, dialect, part)
    summaries = await purchase_summaries(conn, dialect, part, PURCHASED)
    rows: list[dict[str, Any]] = []
    events: list[tuple[Any, ...]] = []
    stamp = now if dialect == "postgresql" else sqlite_time(now)
    for profile_id in part:
        if profile_id not in stored:
            continue  # erased meanwhile
        values = aggregate_values(summaries[profile_id], now)
        before = stored[profile_id]
        if values == before:
            continue
        rows.append({"profile_id": profile_id, **values, "updated_at": now})
        if values["segment"] != before["segment"] and values["order_count"] > 0:
            events.append(segment_event(profile_id, values, before["segment"], stamp))
    await write_aggregates(conn, dialect, rows)
    events.sort(key=itemgetter(4))  # by dedup key: one lock order for concurrent importers
    await insert_records(conn, dialect, DOMAIN_EVENTS, EVENT_COLUMNS, events, "(dedup_key) DO NOTHING")
    return {row["profile_id"] for row in rows}
