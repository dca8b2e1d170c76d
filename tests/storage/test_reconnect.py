"""A PostgreSQL restart (every connection dropped) costs one failed statement at most, then the pool
hands out fresh connections: the next callback, tick or page works again without a restart of ours."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage.db import Database

pytestmark = pytest.mark.storage


async def _drop_every_connection(db: Database) -> None:
    """What a server restart does to our pool: every backend of this database is terminated."""
    url = db.engine.url
    admin = await asyncpg.connect(host=url.host, port=url.port, user=url.username, database=url.database)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()


async def test_dropped_connections_fail_one_statement_then_recover(db: Database) -> None:
    if not db.is_postgres:
        pytest.skip("PostgreSQL run only: SQLite has no server to lose")
    # Fill the pool with several live connections, as a busy process has.
    conns = [await db.engine.connect() for _ in range(3)]
    for conn in conns:
        await conn.execute(text("SELECT 1"))
    for conn in conns:
        await conn.close()
    await _drop_every_connection(db)
    failures = 0
    for _ in range(5):
        try:
            async with db.engine.connect() as conn:
                assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
        except DBAPIError as error:
            assert error.connection_invalidated
            failures += 1
    assert failures == 1  # the first use of a dropped connection; every later one is fresh
    assert await db.ping()
