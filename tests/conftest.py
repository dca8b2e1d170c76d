"""Shared fixtures.

`db` is an empty, fully created database for each test: a fresh SQLite file by default, or the
PostgreSQL database named by SCRM_TEST_DATABASE_URL (tables created once per run, emptied per test).
`.ci/run` sets that variable to run the storage and concurrency tests on PostgreSQL too.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from base.clock import FakeClock
from base.settings import Settings
from storage.db import Database

PG_URL = os.environ.get("SCRM_TEST_DATABASE_URL", "")


def pytest_report_header(config: pytest.Config) -> str:
    return f"database under test: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite (temporary files)'}"


@pytest.fixture(scope="session")
def _pg_schema() -> Iterator[None]:
    if not PG_URL:
        yield
        return

    async def rebuild() -> None:
        db = Database(PG_URL)
        async with db.engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.drop_all)
            await conn.run_sync(SQLModel.metadata.create_all)
        await db.dispose()

    asyncio.run(rebuild())
    yield


@pytest.fixture
def db_url(tmp_path: Path, _pg_schema: None) -> str:
    """The URL of this test's database (for tests that start other processes on it)."""
    return PG_URL or f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    if database.is_postgres:
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        async with database.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    else:
        await database.create_all()
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        wechat_appid="wx1234567890abcdef",
        wechat_appsecret="secret",
        wechat_token="testtoken",
        wechat_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        wechat_api_base="http://127.0.0.1:1",
    )
