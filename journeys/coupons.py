"""Drawing single-use coupon codes for pushes, at most one code per push and pool.

A push rendered twice (a retry after WeChat was busy) finds the code it drew the first time, so a
follower never burns two codes for one message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from base.clock import Clock
from storage.db import Database
from storage.models.content import CouponCode, CouponPool
from storage.pushes import picked_once

log = logging.getLogger(__name__)
CODES = cast(Table, CouponCode.__table__)  # type: ignore[attr-defined]
POOLS = cast(Table, CouponPool.__table__)  # type: ignore[attr-defined]


class CouponDrawer:
    """Claims codes from coupon pools on behalf of pushes."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def draw_for(self, wanted: Sequence[tuple[int, str, int]]) -> dict[int, str | None]:
        """For each (push_id, pool name, follower_id): the code drawn, or None when the pool is empty."""
        if not wanted:
            return {}
        drawn: dict[int, str | None] = {}
        async with self.db.engine.begin() as conn:
            pools = dict(
                (await conn.execute(select(POOLS.c.name, POOLS.c.id).where(POOLS.c.name.in_({w[1] for w in wanted}))))
                .tuples()
                .all()
            )
            for push_id, pool_name, follower_id in wanted:
                pool_id = pools.get(pool_name)
                if pool_id is None:
                    log.error("push %s wants a code from unknown coupon pool %r", push_id, pool_name)
                    drawn[push_id] = None
                    continue
                drawn[push_id] = await self._draw_one(conn, pool_id, push_id, follower_id)
                if drawn[push_id] is None:
                    log.warning("coupon pool %r is empty: push %s goes out with the fallback text", pool_name, push_id)
        return drawn

    async def _draw_one(self, conn: AsyncConnection, pool_id: int, push_id: int, follower_id: int) -> str | None:
        existing = await conn.execute(
            select(CODES.c.code).where(CODES.c.pool_id == pool_id, CODES.c.claimed_by_push_id == push_id)
        )
        code = existing.scalar_one_or_none()
        if code is not None:
            return str(code)
        free = picked_once(
            conn,
            select(CODES.c.id)
            .where(CODES.c.pool_id == pool_id, CODES.c.claimed_by_push_id.is_(None))
            .order_by(CODES.c.id)
            .limit(1)
            .with_for_update(skip_locked=True),
        )
        claimed = await conn.execute(
            update(CODES)
            .where(CODES.c.id.in_(free), CODES.c.claimed_by_push_id.is_(None))
            .values(claimed_by_push_id=push_id, claimed_at=self.clock.now(), follower_id=follower_id)
            .returning(CODES.c.code)
        )
        code = claimed.scalar_one_or_none()
        return None if code is None else str(code)
