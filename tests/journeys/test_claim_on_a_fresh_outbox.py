"""A claim of due pushes reads each candidate's own run, even before PostgreSQL has statistics of the outbox.

A candidate waits while an earlier step of its journey run is still open. On a pushes table PostgreSQL
had never analyzed (a new install whose first journey enrolled a segment at once), the planner answered
that question for each candidate by reading every open push through the status index: 100,000 due
pushes made one claim run for minutes, and the dispatcher sent nothing while callbacks slowed. The check
now has an index of the open steps by run; counted here in entries read from the index of the claim's
order (migration 0016; the status index before it), not in time.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import Database
from storage.pushes import PUSHES, claim_due_pushes
from tests.conftest import PG_URL

pytestmark = [
    pytest.mark.storage,
    pytest.mark.skipif(not PG_URL, reason="PostgreSQL's planner (SCRM_TEST_DATABASE_URL); SQLite reads by run"),
]

DUE = 20_000
CLAIMED = 100


@pytest.fixture
async def fresh() -> AsyncIterator[Database]:
    """A database of its own, tables just created: no statistics yet, as on a new install."""
    name = f"scrm_claims_{uuid.uuid4().hex[:8]}"
    base = PG_URL.rsplit("/", 1)[0]
    admin = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(f"{base}/{name}")
    try:
        await db.create_all()
        yield db
    finally:
        await db.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_a_claim_on_a_never_analyzed_outbox_reads_each_candidates_run(fresh: Database) -> None:
    now = datetime.now(UTC)
    pushes = [
        {"follower_id": number, "appid": "wx-claims", "openid": f"o-{number}", "template_version_id": 1,
         "template_kind": "text", "purpose": "service", "context": {}, "status": "pending", "attempts": 0,
         "run_id": number, "step_index": 0, "due_at": now, "created_at": now}
        for number in range(1, DUE + 1)
    ]  # fmt: skip
    async with fresh.engine.begin() as conn:
        await conn.execute(insert(PUSHES), pushes)
    read = text("SELECT pg_stat_get_xact_tuples_returned('ix_pushes_claim_order'::regclass)")
    async with fresh.engine.begin() as conn:
        before = int((await conn.execute(read)).scalar_one())
        claimed = await claim_due_pushes(conn, now=now, limit=CLAIMED, token="claims")
        entries = int((await conn.execute(read)).scalar_one()) - before
    assert len(claimed) == CLAIMED
    # Finding the due ones reads each once; reading all open pushes again per candidate read millions.
    assert entries <= 3 * DUE, entries
