"""Storage contract for the foundation tables: the same assertions hold on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from storage.db import Database
from storage.models.core import Follower, InboundEvent

pytestmark = pytest.mark.storage


async def test_times_round_trip_as_aware_utc(db: Database) -> None:
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC) + timedelta(microseconds=5)
    async with db.session() as session:
        session.add(Follower(appid="wx1", openid="o1", created_at=moment, updated_at=moment))
        await session.commit()
    async with db.session() as session:
        follower = (await session.exec(select(Follower))).one()
    assert follower.created_at == moment
    assert follower.created_at.tzinfo is not None


async def test_naive_time_is_refused(db: Database) -> None:
    naive = datetime(2026, 3, 1, 12, 30)
    async with db.session() as session:
        session.add(Follower(appid="wx1", openid="o1", created_at=naive, updated_at=naive))
        with pytest.raises(Exception, match="naive datetime"):
            await session.commit()


async def test_dedup_key_is_unique(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.session() as session:
        session.add(InboundEvent(dedup_key="k", appid="a", openid="o", kind="text", received_at=now))
        await session.commit()
    async with db.session() as session:
        session.add(InboundEvent(dedup_key="k", appid="a", openid="o", kind="text", received_at=now))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_follower_is_unique_per_account(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.session() as session:
        session.add(Follower(appid="wx1", openid="o1", created_at=now, updated_at=now))
        session.add(Follower(appid="wx2", openid="o1", created_at=now, updated_at=now))
        await session.commit()
    async with db.session() as session:
        session.add(Follower(appid="wx1", openid="o1", created_at=now, updated_at=now))
        with pytest.raises(IntegrityError):
            await session.commit()
