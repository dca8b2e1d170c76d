"""Coupon pools: unique codes under concurrent dispatchers, idempotent draws, low-stock warnings."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from base.clock import FakeClock
from publishing.coupons import CouponError, draw_coupon, load_codes, parse_codes, pool_statuses
from storage.db import Database


@pytest.mark.storage
async def test_a_push_drawing_twice_gets_the_same_code(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as session:
        await load_codes(session, "new20", ["A1", "A2", "A3"], now=clock.now(), low_water_mark=0)
    async with db.transaction() as session:
        first = await draw_coupon(session, "new20", push_id=7, follower_id=1, now=clock.now())
    async with db.transaction() as session:
        again = await draw_coupon(session, "new20", push_id=7, follower_id=1, now=clock.now())
        other = await draw_coupon(session, "new20", push_id=8, follower_id=2, now=clock.now())
    assert first.code == again.code
    assert other.code != first.code
    assert (again.remaining, other.remaining) == (2, 1)


@pytest.mark.storage
async def test_an_empty_pool_says_so_and_an_unknown_pool_is_named(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as session:
        await load_codes(session, "tiny", ["ONLY1"], now=clock.now(), low_water_mark=0)
        await draw_coupon(session, "tiny", push_id=1, follower_id=None, now=clock.now())
    async with db.transaction() as session:
        with pytest.raises(CouponError, match="no code left"):
            await draw_coupon(session, "tiny", push_id=2, follower_id=None, now=clock.now())
        with pytest.raises(CouponError, match="no coupon pool named 'nope'"):
            await draw_coupon(session, "nope", push_id=2, follower_id=None, now=clock.now())


@pytest.mark.storage
async def test_loading_again_adds_only_new_codes_and_clears_low_stock(
    db: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with db.transaction() as session:
        _pool, added = await load_codes(session, "vip", ["V1", "V2", "V3"], now=clock.now(), low_water_mark=2)
    assert added == 3
    with caplog.at_level(logging.WARNING):
        async with db.transaction() as session:
            drawn = await draw_coupon(session, "vip", push_id=1, follower_id=None, now=clock.now())
    assert drawn.low_stock and drawn.remaining == 2
    assert "coupon pool vip is running low: 2 codes left" in caplog.text
    async with db.session() as session:
        [status] = await pool_statuses(session)
    assert (status.total, status.free, status.low_stock) == (3, 2, True)
    async with db.transaction() as session:
        _pool, added = await load_codes(session, "vip", ["V2", "V3", "V4", "V5"], now=clock.now())
    assert added == 2
    async with db.session() as session:
        [status] = await pool_statuses(session)
    assert (status.total, status.free, status.low_stock) == (5, 4, False)


def test_code_lists_skip_comments_and_refuse_garbage() -> None:
    assert parse_codes(["# header", "", "AB-1,extra column", ' "CD_2" ']) == ["AB-1", "CD_2"]
    with pytest.raises(CouponError, match="codes:2: 'not a code!'"):
        parse_codes(["OK1", "not a code!"])


@pytest.mark.concurrency
async def test_dispatchers_with_their_own_engines_never_share_a_code(
    db: Database, db_url: str, clock: FakeClock
) -> None:
    pool = f"race_{uuid.uuid4().hex[:8]}"
    codes = [f"C{n:03d}" for n in range(60)]
    async with db.transaction() as session:
        await load_codes(session, pool, codes, now=clock.now(), low_water_mark=0)
    engines = [Database(db_url) for _ in range(4)]

    async def dispatcher(worker: int, engine: Database) -> list[str]:
        drawn = []
        for n in range(16):  # 4 x 16 = 64 draws for 60 codes: the last ones find the pool empty
            try:
                async with engine.transaction() as session:
                    result = await draw_coupon(
                        session, pool, push_id=worker * 1000 + n, follower_id=None, now=clock.now()
                    )
                drawn.append(result.code)
            except CouponError:
                pass
        return drawn

    try:
        results = await asyncio.gather(*(dispatcher(i, engine) for i, engine in enumerate(engines)))
    finally:
        for engine in engines:
            await engine.dispose()
    everything = [code for batch in results for code in batch]
    assert len(everything) == len(set(everything)) == 60
    assert sorted(everything) == codes
