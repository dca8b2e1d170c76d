"""Coupon pools: an editor loads a list of single-use codes, each push draws one of its own.

Codes are drawn in one place only, journeys.coupons.CouponDrawer (through storage.content.draw_code):
atomic across dispatchers and idempotent per push, so a retried push shows the follower the same code.
A pool at or under its low-water mark logs a warning and sets `low_stock`, which the console shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from storage import content as store
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
    pool_id: int = 0


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


# A first line naming the column is a header, not a code.
_HEADERS = {"code", "codes", "coupon", "coupon_code", "券码", "优惠券码", "兑换码"}


@dataclass
class CodeList:
    """The codes of an uploaded list, and every line that is not loaded, by line number, for the report."""

    codes: list[str] = field(default_factory=list)
    blank_lines: list[int] = field(default_factory=list)
    duplicates: list[tuple[int, str]] = field(default_factory=list)  # a code seen on an earlier line
    invalid: list[tuple[int, str]] = field(default_factory=list)
    header: bool = False


def read_code_list(lines: Iterable[str]) -> CodeList:
    """Codes one a line (the first column of a CSV); blank lines, repeats and bad codes are listed, not lost."""
    found = CodeList()
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            found.blank_lines.append(number)
            continue
        code = line.split(",", 1)[0].strip().strip('"').strip()
        if number == 1 and code.lower() in _HEADERS:
            found.header = True
        elif not _CODE.match(code):
            found.invalid.append((number, code[:40]))
        elif code in seen:
            found.duplicates.append((number, code))
        else:
            seen.add(code)
            found.codes.append(code)
    return found


def read_code_file(path: Path) -> CodeList:
    """A code list from a UTF-8 text or CSV file (blocking: call it from a worker thread)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            return read_code_list(stream)
    except UnicodeDecodeError:
        raise CouponError(f"{path.name}: not UTF-8 text") from None


async def create_pool(
    session: AsyncSession, name: str, *, description: str, low_water_mark: int, now: datetime
) -> CouponPool:
    """A new, empty pool; CouponError when the name is taken or a value is out of range. Caller commits."""
    name = name.strip()
    if not name or len(name) > 100:
        raise CouponError("a pool name of 1 to 100 characters is required")
    if not 0 <= low_water_mark <= 10_000_000:
        raise CouponError("the low-water mark is a count of codes, 0 or more")
    if await store.pool_by_name(session, name) is not None:
        raise CouponError(f"there is already a coupon pool named {name!r}")
    # Empty, it is at its low-water mark from the start: the dashboard says so until codes arrive.
    pool = CouponPool(name=name, description=description[:300], low_water_mark=low_water_mark, created_at=now)
    pool.low_stock = True
    session.add(pool)
    await session.flush()
    return pool


async def add_code_list(session: AsyncSession, pool: CouponPool, codes: Sequence[str], now: datetime) -> int:
    """Add the codes the pool does not have yet (low-stock updated); returns how many were new."""
    return await store.add_codes(session, pool, codes, now)


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


async def pool_statuses(session: AsyncSession) -> list[PoolStatus]:
    """Every pool with its counts, for the console and `scrm content coupons`."""
    statuses = []
    for pool in await store.list_pools(session):
        assert pool.id is not None
        total, free = await store.pool_counts(session, pool.id)
        statuses.append(
            PoolStatus(pool.name, pool.description, total, free, pool.low_water_mark, pool.low_stock, pool.id)
        )
    return statuses
