"""Storage contract of the shared token row and its refresh lease (same assertions on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from base.clock import FakeClock
from storage import tokens as token_store
from storage.db import Database

pytestmark = pytest.mark.storage

LEASE = timedelta(seconds=30)


async def test_only_one_owner_holds_the_lease(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    assert await token_store.take_lease(db, "wxA", "p1", now, LEASE)
    assert not await token_store.take_lease(db, "wxA", "p2", now, LEASE)
    assert await token_store.take_lease(db, "wxA", "p1", now, LEASE)  # the holder may renew
    assert await token_store.take_lease(db, "wxB", "p2", now, LEASE)  # leases are per account
    await token_store.release_lease(db, "wxA", "p2")  # not the holder: nothing happens
    assert not await token_store.take_lease(db, "wxA", "p2", now, LEASE)
    await token_store.release_lease(db, "wxA", "p1")
    assert await token_store.take_lease(db, "wxA", "p2", now, LEASE)


async def test_expired_lease_can_be_taken(db: Database, clock: FakeClock) -> None:
    assert await token_store.take_lease(db, "wxA", "p1", clock.now(), LEASE)
    assert await token_store.take_lease(db, "wxA", "p2", clock.now() + LEASE, LEASE)


@pytest.mark.concurrency
async def test_racing_processes_get_one_lease(db_url: str, db: Database, clock: FakeClock) -> None:
    engines = [Database(db_url) for _ in range(4)]
    try:
        won = await asyncio.gather(
            *(token_store.take_lease(engine, "wxRace", f"p{n}", clock.now(), LEASE) for n, engine in enumerate(engines))
        )
    finally:
        for engine in engines:
            await engine.dispose()
    assert sorted(won) == [False, False, False, True]


async def test_publish_needs_the_lease_and_releases_it(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    assert await token_store.take_lease(db, "wxA", "p1", now, LEASE)
    assert not await token_store.publish_token(db, "wxA", "p2", "T-stolen", now + timedelta(hours=2), now)
    assert await token_store.publish_token(db, "wxA", "p1", "T1", now + timedelta(hours=2), now)
    stored = await token_store.read_token(db, "wxA")
    assert stored is not None
    assert (stored.token, stored.lease_owner, stored.lease_until) == ("T1", None, None)
    assert stored.expires_at == now + timedelta(hours=2) and stored.usable_at(now)


async def test_expire_only_the_failing_token(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    await token_store.take_lease(db, "wxA", "p1", now, LEASE)
    await token_store.publish_token(db, "wxA", "p1", "T2", now + timedelta(hours=2), now)
    assert not await token_store.expire_token_if_current(db, "wxA", "T1", now)
    stored = await token_store.read_token(db, "wxA")
    assert stored is not None and stored.usable_at(now)
    assert await token_store.expire_token_if_current(db, "wxA", "T2", now)
    stored = await token_store.read_token(db, "wxA")
    assert stored is not None and not stored.usable_at(now)


async def test_unknown_account_has_no_token(db: Database) -> None:
    assert await token_store.read_token(db, "wxNone") is None
