"""Coupon pools: unique codes under concurrent dispatchers, idempotent draws, low-stock warnings.

Every draw goes through the dispatcher's CouponDrawer, the one path journeys use."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from base.clock import FakeClock
from journeys.coupons import CouponDrawer
from publishing.coupons import CouponError, load_codes, parse_codes, pool_statuses
from storage.db import Database


async def _free(db: Database) -> int:
    async with db.session() as session:
        return sum(status.free for status in await pool_statuses(session))


@pytest.mark.storage
async def test_a_push_drawing_twice_gets_the_same_code(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as session:
        await load_codes(session, "new20", ["A1", "A2", "A3"], now=clock.now(), low_water_mark=0)
    drawer = CouponDrawer(db, clock)
    first = await drawer.draw_for([(7, "new20", 1)])
    assert await _free(db) == 2
    again = await drawer.draw_for([(7, "new20", 1), (8, "new20", 2)])
    assert again[7] == first[7] is not None
    assert again[8] not in (None, first[7])
    assert await _free(db) == 1


@pytest.mark.storage
async def test_an_empty_pool_and_an_unknown_pool_draw_nothing_and_say_so(
    db: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with db.transaction() as session:
        await load_codes(session, "tiny", ["ONLY1"], now=clock.now(), low_water_mark=0)
    drawer = CouponDrawer(db, clock)
    assert await drawer.draw_for([(1, "tiny", None)]) == {1: "ONLY1"}
    with caplog.at_level(logging.WARNING):
        assert await drawer.draw_for([(2, "tiny", None), (3, "nope", None)]) == {2: None, 3: None}
    assert "coupon pool 'tiny' is empty" in caplog.text
    assert "unknown coupon pool 'nope'" in caplog.text


@pytest.mark.storage
async def test_loading_again_adds_only_new_codes_and_clears_low_stock(
    db: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with db.transaction() as session:
        _pool, added = await load_codes(session, "vip", ["V1", "V2", "V3"], now=clock.now(), low_water_mark=2)
    assert added == 3
    with caplog.at_level(logging.WARNING):
        drawn = await CouponDrawer(db, clock).draw_for([(1, "vip", None)])
    assert drawn[1] is not None
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
        drawer = CouponDrawer(engine, clock)
        drawn = []
        for n in range(16):  # 4 x 16 = 64 draws for 60 codes: the last ones find the pool empty
            code = (await drawer.draw_for([(worker * 1000 + n, pool, None)]))[worker * 1000 + n]
            if code is not None:
                drawn.append(code)
        return drawn

    try:
        results = await asyncio.gather(*(dispatcher(i, engine) for i, engine in enumerate(engines)))
    finally:
        for engine in engines:
            await engine.dispose()
    everything = [code for batch in results for code in batch]
    assert len(everything) == len(set(everything)) == 60
    assert sorted(everything) == codes
