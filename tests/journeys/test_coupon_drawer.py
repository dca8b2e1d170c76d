"""The dispatcher's coupon draws take the one storage path, so a pool running low is flagged for the console."""

from __future__ import annotations

import pytest

from base.clock import FakeClock
from journeys.coupons import CouponDrawer
from publishing.coupons import load_codes, pool_statuses
from storage.db import Database


@pytest.mark.storage
async def test_a_dispatcher_draw_keeps_low_stock_and_repeats_a_pushs_code(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as session:
        await load_codes(session, "vip", ["V1", "V2", "V3"], now=clock.now(), low_water_mark=1)
    drawer = CouponDrawer(db, clock)
    first = await drawer.draw_for([(1, "vip", 10), (2, "vip", 11), (3, "nope", 12)])
    again = await drawer.draw_for([(1, "vip", 10)])
    assert first[1] is not None and first[2] not in (None, first[1]) and first[3] is None
    assert again == {1: first[1]}
    async with db.session() as session:
        (status,) = await pool_statuses(session)
    assert (status.free, status.low_stock) == (1, True)
