"""Coupon pools: an editor loads a list of single-use codes, each push draws one of its own.

Drawing is atomic across dispatchers (see storage.content.draw_code) and idempotent per push: a retried
push shows the follower the same code. A pool at or under its low-water mark logs a warning and sets
`low_stock`, which the console shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from storage import content as store
from storage.content import DrawnCode
from storage.models.content import CouponPool

# Codes printed on vouchers: letters, digits and a few separators, at most 64 characters.
_CODE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class CouponError(ValueError):
    """A pool that does not exist, has no code left, or a malformed list of codes."""


@dataclass(frozen=True)
class PoolStatus:
    name: str
    description: str
    total: int
    free: int
    low_water_mark: int
    low_stock: bool


def parse_codes(lines: Iterable[str], where: str = "codes") -> list[str]:
    """Codes from text lines: one per line (first column of a CSV), blank lines and `#` comments skipped."""
    codes: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        code = line.split(",", 1)[0].strip().strip('"')
        if not _CODE.match(code):
            raise CouponError(f"{where}:{number}: {code[:40]!r} is not a code (letters, digits, _ or -, up to 64)")
        codes.append(code)
    return codes


def read_codes_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CouponError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise CouponError(f"{path}: not UTF-8 text") from None
    return parse_codes(text.splitlines(), str(path))


async def load_codes(
    session: AsyncSession,
    pool_name: str,
    codes: Sequence[str],
    *,
    now: datetime,
    low_water_mark: int | None = None,
    description: str | None = None,
) -> tuple[CouponPool, int]:
    """Add codes to a pool (created when new); codes it already has are skipped. Caller commits."""
    if not pool_name.strip() or len(pool_name) > 100:
        raise CouponError("a pool name of 1 to 100 characters is required")
    if low_water_mark is not None and low_water_mark < 0:
        raise CouponError("the low-water mark cannot be negative")
    pool = await store.pool_by_name(session, pool_name)
    if pool is None:
        pool = CouponPool(name=pool_name, created_at=now)
    if low_water_mark is not None:
        pool.low_water_mark = low_water_mark
    if description is not None:
        pool.description = description
    session.add(pool)
    await session.flush()
    added = await store.add_codes(session, pool, parse_codes(codes, pool_name), now)
    return pool, added


async def draw_coupon(
    session: AsyncSession, pool_name: str, *, push_id: int, follower_id: int | None, now: datetime
) -> DrawnCode:
    """Draw the code of `push_id` from a pool (the same code when drawn again). Caller commits."""
    pool = await store.pool_by_name(session, pool_name)
    if pool is None:
        raise CouponError(f"no coupon pool named {pool_name!r}")
    drawn = await store.draw_code(session, pool, push_id=push_id, follower_id=follower_id, now=now)
    if drawn is None:
        raise CouponError(f"coupon pool {pool_name} has no code left")
    return drawn


async def pool_statuses(session: AsyncSession) -> list[PoolStatus]:
    """Every pool with its counts, for the console and `scrm content coupons`."""
    statuses = []
    for pool in await store.list_pools(session):
        assert pool.id is not None
        total, free = await store.pool_counts(session, pool.id)
        statuses.append(PoolStatus(pool.name, pool.description, total, free, pool.low_water_mark, pool.low_stock))
    return statuses
