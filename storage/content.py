"""SQL for content: templates and versions, journeys, reply rules, and coupon pools.

Decisions (validation, when a save makes a new version) live in content/; this module only reads and
writes rows. Functions take the caller's session and never commit, except where noted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.content import CouponCode, CouponPool, Journey, ReplyRule, Template, TemplateVersion

log = logging.getLogger(__name__)


# --- templates ---------------------------------------------------------------------------------------


async def template_by_name(session: AsyncSession, name: str) -> Template | None:
    return (await session.exec(select(Template).where(Template.name == name))).first()


async def list_templates(session: AsyncSession) -> Sequence[Template]:
    return (await session.exec(select(Template).order_by(col(Template.name)))).all()


async def version_by_id(session: AsyncSession, version_id: int) -> TemplateVersion | None:
    return await session.get(TemplateVersion, version_id)


async def latest_version(session: AsyncSession, template_id: int) -> TemplateVersion | None:
    statement = (
        select(TemplateVersion)
        .where(TemplateVersion.template_id == template_id)
        .order_by(col(TemplateVersion.version).desc())
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def list_versions(session: AsyncSession, template_id: int) -> Sequence[TemplateVersion]:
    statement = (
        select(TemplateVersion).where(TemplateVersion.template_id == template_id).order_by(col(TemplateVersion.version))
    )
    return (await session.exec(statement)).all()


async def published_versions(session: AsyncSession) -> list[tuple[Template, TemplateVersion]]:
    """Every template with its current published version (templates never published are left out)."""
    statement = select(Template, TemplateVersion).where(Template.current_version_id == TemplateVersion.id)
    return [(template, version) for template, version in (await session.exec(statement)).all()]


# --- journeys ----------------------------------------------------------------------------------------


async def journey_by_name(session: AsyncSession, name: str) -> Journey | None:
    return (await session.exec(select(Journey).where(Journey.name == name))).first()


async def list_journeys(session: AsyncSession, *, enabled_only: bool = False) -> Sequence[Journey]:
    statement = select(Journey).order_by(col(Journey.name))
    if enabled_only:
        statement = statement.where(col(Journey.enabled).is_(True))
    return (await session.exec(statement)).all()


# --- reply rules -------------------------------------------------------------------------------------


async def list_reply_rules(session: AsyncSession) -> Sequence[ReplyRule]:
    statement = select(ReplyRule).order_by(col(ReplyRule.priority).desc(), col(ReplyRule.id))
    return (await session.exec(statement)).all()


async def replace_reply_rules(session: AsyncSession, appid: str, rules: Iterable[ReplyRule]) -> int:
    """Swap every rule of `appid` ("" = all accounts) for `rules` in the caller's transaction."""
    await session.exec(delete(ReplyRule).where(col(ReplyRule.appid) == appid))
    count = 0
    for rule in rules:
        session.add(rule)
        count += 1
    await session.flush()
    return count


# --- coupon pools ------------------------------------------------------------------------------------


async def pool_by_name(session: AsyncSession, name: str) -> CouponPool | None:
    return (await session.exec(select(CouponPool).where(CouponPool.name == name))).first()


async def list_pools(session: AsyncSession) -> Sequence[CouponPool]:
    return (await session.exec(select(CouponPool).order_by(col(CouponPool.name)))).all()


async def unclaimed_count(session: AsyncSession, pool_id: int) -> int:
    statement = select(func.count()).where(
        col(CouponCode.pool_id) == pool_id, col(CouponCode.claimed_by_push_id).is_(None)
    )
    return int((await session.exec(statement)).one())


async def pool_counts(session: AsyncSession, pool_id: int) -> tuple[int, int]:
    """(codes loaded, codes still free) of a pool."""
    total = (await session.exec(select(func.count()).where(col(CouponCode.pool_id) == pool_id))).one()
    return int(total), await unclaimed_count(session, pool_id)


async def add_codes(session: AsyncSession, pool: CouponPool, codes: Iterable[str], now: datetime) -> int:
    """Insert the codes the pool does not have yet; returns how many were new. Caller commits."""
    assert pool.id is not None
    wanted = list(dict.fromkeys(code for code in codes if code))
    existing: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        statement = select(CouponCode.code).where(col(CouponCode.pool_id) == pool.id, col(CouponCode.code).in_(chunk))
        existing.update((await session.exec(statement)).all())
    fresh = [code for code in wanted if code not in existing]
    # Plain multi-row INSERTs in slices: a file of 100 000 codes never holds the event loop for long,
    # as each slice awaits the database before the next is built.
    for start in range(0, len(fresh), 1000):
        rows = [{"pool_id": pool.id, "code": code, "loaded_at": now} for code in fresh[start : start + 1000]]
        await session.exec(insert(CouponCode).values(rows))
    free = await unclaimed_count(session, pool.id)
    pool.low_stock = free <= pool.low_water_mark
    session.add(pool)
    await session.flush()
    return len(fresh)


@dataclass(frozen=True)
class DrawnCode:
    """A code drawn for a push; `low_stock` when the pool is at or under its low-water mark."""

    code: str
    remaining: int
    low_stock: bool


def _claim_statement(pool_id: int, push_id: int, follower_id: int | None, now: datetime) -> Any:
    """UPDATE ... WHERE id = (oldest free code, FOR UPDATE SKIP LOCKED) unless the push holds one: RETURNING code.

    On PostgreSQL the inner SELECT skips rows other dispatchers have locked, so they never wait on each
    other nor take the same row; SQLite runs one writer at a time (and drops FOR UPDATE), so the single
    statement is atomic there.
    """
    # Aliases keep the subqueries from being correlated to the table being updated.
    free, held = aliased(CouponCode), aliased(CouponCode)
    oldest_free = (
        select(free.id)
        .where(col(free.pool_id) == pool_id, col(free.claimed_by_push_id).is_(None))
        .order_by(col(free.id))
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    already_held = exists().where(col(held.pool_id) == pool_id, col(held.claimed_by_push_id) == push_id)
    return (
        update(CouponCode)
        .where(col(CouponCode.id) == oldest_free, col(CouponCode.claimed_by_push_id).is_(None), ~already_held)
        .values(claimed_by_push_id=push_id, claimed_at=now, follower_id=follower_id)
        .returning(col(CouponCode.code))
    )


async def _held_code(session: AsyncSession, pool_id: int, push_id: int) -> str | None:
    statement = select(CouponCode.code).where(
        col(CouponCode.pool_id) == pool_id, col(CouponCode.claimed_by_push_id) == push_id
    )
    return (await session.exec(statement)).first()


async def draw_code(
    session: AsyncSession, pool: CouponPool, *, push_id: int, follower_id: int | None, now: datetime
) -> DrawnCode | None:
    """Claim a unique code of `pool` for `push_id`; the same push gets the same code again. None: empty.

    Call it first in its transaction on SQLite (a write that follows reads may meet a busy snapshot).
    The caller commits.
    """
    assert pool.id is not None
    claim = _claim_statement(pool.id, push_id, follower_id, now)
    try:
        async with session.begin_nested():
            code = (await session.exec(claim)).scalar_one_or_none()
    except IntegrityError:
        # Two dispatchers drew for the same push at once; the unique (pool, push) pair let one win.
        code = None
    if code is None:
        code = await _held_code(session, pool.id, push_id)
        if code is None:
            return None
    remaining = await unclaimed_count(session, pool.id)
    low = remaining <= pool.low_water_mark
    if low:
        mark = pool.low_water_mark
        log.warning("coupon pool %s is running low: %d codes left (low-water mark %d)", pool.name, remaining, mark)
    if low != pool.low_stock:
        pool.low_stock = low
        session.add(pool)
        await session.flush()
    return DrawnCode(str(code), remaining, low)
