"""Profile enrichment after an import: aggregates, RFM and segments for the touched profiles only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
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
from storage.profiles import (
    AGGREGATE_COLUMNS,
    PurchaseSummary,
    current_aggregates,
    profiles_with_followers,
    purchase_summaries,
    same_aggregates,
    stored_time,
    write_aggregates,
)

TOP_PRODUCTS = 3
# Profiles re-scored per transaction: small enough to keep locks short, large enough to stay set-based.
# On PostgreSQL a chunk locks its profiles until it commits, and a binding of one of their phones waits
# for it: 10,000 a chunk held 13 bindings for 3 s in the soak, one of them past WeChat's reply deadline.
REFRESH_CHUNK = 2_000
# On SQLite a chunk holds the database's only write lock (from before its reads), and callbacks wait
# behind it: about a tenth of a second of work, not most of a second.
REFRESH_CHUNK_SQLITE = 2_000


class Scoring:
    """Aggregates computed for one dialect at one moment, in the form its driver stores them.

    Times stay as the driver returns them (SQLite: UTC text, PostgreSQL: aware datetimes) and are
    parsed only for the recency score: a big import re-scores hundreds of thousands of profiles.
    """

    def __init__(self, dialect: str, now: datetime) -> None:
        self.sqlite = dialect != "postgresql"
        # On SQLite, stored times parse to naive UTC: "now" is compared in the same form.
        self.now = now.astimezone(UTC).replace(tzinfo=None) if self.sqlite else now
        self.stamp: Any = sqlite_time(now) if self.sqlite else now

    def values(self, summary: PurchaseSummary) -> tuple[Any, ...]:
        """Every aggregate column of a profile (an `AGGREGATE_COLUMNS` tuple) from its purchase summary."""
        products = summary.products
        latest: tuple[str, int, Any] | None
        if len(products) > 1:
            # Most orders first, then the most recently bought, then by name: stable sorts, least
            # significant key first (stored times compare in their driver form).
            ranked = sorted(products, key=itemgetter(0))
            ranked.sort(key=_recency, reverse=True)
            ranked.sort(key=itemgetter(1), reverse=True)
            latest = max(products, key=_recency)
        else:  # most buyers bought one product: nothing to rank
            ranked, latest = products, products[0] if products else None
        count, spent, last = summary.order_count, summary.total_spent_fen, summary.last_order_at
        moment = datetime.fromisoformat(last) if self.sqlite and isinstance(last, str) else last
        rfm = score(count, spent, moment, self.now)
        named = segment(rfm)
        return (
            count,
            spent,
            spent // count if count else 0,
            summary.first_order_at,
            last,
            latest[0][:200] if latest else None,
            json_text([product[:200] for product, _count, _at in ranked[:TOP_PRODUCTS]]),
            rfm.recency,
            rfm.frequency,
            rfm.monetary,
            named,
            lifecycle_stage(count, named),
        )


def _recency(product: tuple[str, int, Any]) -> tuple[int, Any]:
    """Sort key of a product by when it was last bought, never bought times (None) the oldest."""
    at = product[2]
    return (1, at) if at is not None else (0, 0)


_COUNT_AT, _LAST_AT, _SEGMENT_AT = (
    AGGREGATE_COLUMNS.index(name) for name in ("order_count", "last_order_at", "segment")
)


def segment_event(profile_id: int, values: tuple[Any, ...], previous: str, stamp: Any) -> tuple[Any, ...]:
    """The `segment_entered` event as an `EVENT_COLUMNS` record (`values`: the new aggregates; `stamp`:
    now, in the driver's form); keyed by the purchase history so a re-run finds it already there."""
    named, count, last = values[_SEGMENT_AT], values[_COUNT_AT], stored_time(values[_LAST_AT])
    payload = json_text({"segment": named, "previous": previous, "order_count": count})
    key = f"segment_entered:{profile_id}:{named}:{count}:{last.isoformat() if last else '-'}"
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
    size = REFRESH_CHUNK_SQLITE if db.dialect == "sqlite" else REFRESH_CHUNK
    chunks = ordered.chunks(size)
    changed = 0

    async def work(own: AsyncConnection | None) -> None:
        nonlocal changed
        for part in chunks:  # one shared iterator: each chunk goes to whichever worker is free
            done = await retrying(lambda part=part: _refresh_chunk(db, own, part, now))  # type: ignore[misc]
            changed += len(done)  # after the await: `changed += await ...` would read it before

    if workers <= 1 or len(ordered) <= size:
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
    ordered = sorted(part)  # one lock order for concurrent importers
    stored = await current_aggregates(conn, ordered)
    summaries = await purchase_summaries(conn, ordered, PURCHASED)
    # A segment change is an event only for a profile some follower is linked to: nobody else can be
    # enrolled or reach a goal by it, and a follower who binds later is enrolled by the segment scan
    # (journeys.jobs.scan_segments). A shop's first import would otherwise queue an event per buyer.
    reachable = await profiles_with_followers(conn, ordered)
    scoring = Scoring(dialect, now)
    rows: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for profile_id in ordered:
        before = stored.get(profile_id)
        if before is None:
            continue  # erased meanwhile
        values = scoring.values(summaries[profile_id])
        if same_aggregates(before, values):
            continue
        rows.append((*values, scoring.stamp, profile_id))
        if values[_SEGMENT_AT] != before[_SEGMENT_AT] and values[_COUNT_AT] > 0 and profile_id in reachable:
            events.append(segment_event(profile_id, values, before[_SEGMENT_AT], scoring.stamp))
    await write_aggregates(conn, rows)
    events.sort(key=itemgetter(4))  # by dedup key: one lock order for concurrent importers
    await insert_records(conn, DOMAIN_EVENTS, EVENT_COLUMNS, events, "(dedup_key) DO NOTHING")
    return {row[-1] for row in rows}
