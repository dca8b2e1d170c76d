"""Tracked-link clicks for the callbacks benchmark (`--clicks`): `GET /l/<token>` over pre-made tokens.

After a product target's callback cells, the run reads what a click needs from the product's database
(the links' key the server made at start, a seed template version that declares links, the followers the
callbacks created) and mints one distinct push token per request: each names a follower (so the server
reads that follower, as for a real push's link) and a fresh delivery. wrk sends no cookie and no WeChat
user agent, so every click is a new visitor and is recorded: the most writing a click can cost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from base.clock import SystemClock
from base.link_tokens import LinkClaim, day_number, mint

# The seed's keyword reply with three declared links.
TEMPLATE = "kw_stores"


@dataclass(frozen=True)
class ClickMaterial:
    """What minting the benchmark's tokens takes."""

    key: bytes
    version_id: int
    links: int
    follower_ids: tuple[int, ...]
    day: int

    def path(self, number: int) -> str:
        follower = self.follower_ids[number % len(self.follower_ids)]
        claim = LinkClaim("p", 1 + number, follower, self.version_id, number % self.links, self.day)
        return f"/l/{mint(self.key, claim)}"


async def _read(db_url: str) -> ClickMaterial:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            key = (await conn.execute(text("SELECT key_hex FROM link_keys WHERE id = 1"))).scalar_one()
            version = (
                await conn.execute(
                    text("SELECT current_version_id FROM templates WHERE name = :name"), {"name": TEMPLATE}
                )
            ).scalar_one()
            followers = (await conn.execute(text("SELECT id FROM followers ORDER BY id LIMIT 5000"))).scalars().all()
    finally:
        await engine.dispose()
    if not followers:
        raise RuntimeError("no followers to click as: run the callback cells first")
    today = day_number(SystemClock().now())
    return ClickMaterial(bytes.fromhex(key), int(version), 3, tuple(int(f) for f in followers), today)


def click_material(db_url: str) -> ClickMaterial:
    return asyncio.run(_read(db_url))
