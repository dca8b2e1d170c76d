"""Drawing single-use coupon codes for pushes, at most one code per push and pool.

A push rendered twice (a retry after WeChat was busy) finds the code it drew the first time, so a
follower never burns two codes for one message. Every draw goes through `storage.content.draw_code`,
the one path that also keeps the pool's `low_stock` flag (the console shows it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from base.clock import Clock
from storage import content as store
from storage.db import Database

log = logging.getLogger(__name__)


class CouponDrawer:
    """Claims codes from coupon pools on behalf of pushes."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def draw_for(self, wanted: Sequence[tuple[int, str, int | None]]) -> dict[int, str | None]:
        """For each (push_id, pool name, follower_id): the code drawn, or None when the pool is empty."""
        if not wanted:
            return {}
        drawn: dict[int, str | None] = {}
        async with self.db.transaction() as session:
            pools = {name: await store.pool_by_name(session, name) for name in {w[1] for w in wanted}}
            for push_id, pool_name, follower_id in wanted:
                pool = pools[pool_name]
                if pool is None:
                    log.error("push %s wants a code from unknown coupon pool %r", push_id, pool_name)
                    drawn[push_id] = None
                    continue
                code = await store.draw_code(
                    session, pool, push_id=push_id, follower_id=follower_id, now=self.clock.now()
                )
                drawn[push_id] = None if code is None else code.code
                if code is None:
                    log.warning("coupon pool %r is empty: push %s goes out with the fallback text", pool_name, push_id)
        return drawn
