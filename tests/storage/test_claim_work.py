"""A claim of due pushes does work in proportion to what it claims, not to the size of the outbox.

A big enrolment can leave hundreds of thousands of pushes due at once, and the dispatcher claims them
500 at a time. A claim that reads the whole outbox each time costs more the bigger the campaign: on
PostgreSQL one read and sorted every due push (78 of 87 ms at 100,000), on SQLite one walked every pending
push in the status index to find the ids it had just picked. Counted here in rows read and in SQLite's
virtual-machine steps, not in time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database
from storage.pushes import PUSHES, claim_due_pushes, claim_pushes_of_follower

pytestmark = pytest.mark.storage

CLAIMED = 100


async def _add_due(db: Database, first: int, count: int, now: datetime) -> None:
    rows = [
        {"follower_id": number, "appid": "wx-claims", "openid": f"o-{number}", "template_version_id": 1,
         "template_kind": "text", "purpose": "service", "context": {}, "status": "pending", "attempts": 0,
         "run_id": number, "step_index": 0, "due_at": now, "created_at": now}
        for number in range(first, first + count)
    ]  # fmt: skip
    async with db.engine.begin() as conn:
        await conn.execute(insert(PUSHES), rows)


async def _sqlite_steps(conn: AsyncConnection, claim: Any) -> int:
    """SQLite's virtual-machine steps (in hundreds) for `claim(conn)`, in a transaction rolled back."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    raw._conn.set_progress_handler(count, 100)
    try:
        async with conn.begin() as transaction:
            assert len(await claim(conn)) == CLAIMED
            await transaction.rollback()
    finally:
        raw._conn.set_progress_handler(None, 0)
    return steps


async def test_on_sqlite_a_claim_costs_the_same_with_ten_times_the_outbox(db: Database) -> None:
    if db.is_postgres:
        pytest.skip("SQLite's steps; PostgreSQL's rows read are the next test")
    now = datetime.now(UTC)
    await _add_due(db, 1, 2_000, now)

    def due(conn: AsyncConnection) -> Any:
        return claim_due_pushes(conn, now=now, limit=CLAIMED, token="t")

    async with db.engine.connect() as conn:
        small = await _sqlite_steps(conn, due)
    await _add_due(db, 2_001, 18_000, now)
    async with db.engine.connect() as conn:
        big = await _sqlite_steps(conn, due)
    assert big < 1.5 * small, (small, big)


async def test_on_sqlite_a_followers_claim_costs_the_same_with_ten_times_the_outbox(db: Database) -> None:
    if db.is_postgres:
        pytest.skip("SQLite's steps")
    now = datetime.now(UTC)
    await _add_due(db, 1, 2_000, now)
    async with db.engine.begin() as conn:  # one follower with CLAIMED due pushes, each of a run of its own
        await conn.execute(PUSHES.update().where(PUSHES.c.id <= CLAIMED).values(follower_id=7))

    def of_follower(conn: AsyncConnection) -> Any:
        return claim_pushes_of_follower(conn, follower_id=7, now=now, token="t", limit=CLAIMED)

    async with db.engine.connect() as conn:
        small = await _sqlite_steps(conn, of_follower)
    await _add_due(db, 2_001, 18_000, now)
    async with db.engine.connect() as conn:
        big = await _sqlite_steps(conn, of_follower)
    assert big < 1.5 * small, (small, big)


async def test_on_postgresql_a_claim_reads_about_what_it_claims(db: Database) -> None:
    if not db.is_postgres:
        pytest.skip("PostgreSQL's planner")
    now = datetime.now(UTC)
    await _add_due(db, 1, 20_000, now)
    async with db.engine.begin() as conn:
        await conn.execute(text("ANALYZE pushes"))  # the plan the outbox gets once autovacuum has seen it
    read = text(
        "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables"
        " WHERE relname = 'pushes'"
    )
    async with db.engine.begin() as conn:
        before = int((await conn.execute(read)).scalar_one())
        claimed = await claim_due_pushes(conn, now=now, limit=CLAIMED, token="t")
        rows_read = int((await conn.execute(read)).scalar_one()) - before
    assert len(claimed) == CLAIMED
    # Walking the claim order and stopping: a few rows per push claimed. Reading and sorting every due
    # push: 40,000 (the table twice, once for the candidates and once for their runs' open steps).
    assert rows_read <= 10 * CLAIMED, rows_read
