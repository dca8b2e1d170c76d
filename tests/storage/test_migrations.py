"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage.migrate import alembic_config, upgrade
from tests.conftest import PG_URL

pytestmark = pytest.mark.storage


# Indexes whose PostgreSQL ordering (postgresql_ops) Alembic reflects as expressions and so always reports
# as changed; the PostgreSQL test checks their definition from pg_indexes instead.
ORDERED_ON_POSTGRES = {"ix_profiles_last_order": "(last_order_at DESC NULLS LAST, id DESC)"}


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    found = list(compare_metadata(context, SQLModel.metadata))
    if connection.dialect.name != "postgresql":
        return found
    return [
        diff
        for diff in found
        if not (
            isinstance(diff, tuple) and diff[0] in {"add_index", "remove_index"} and diff[1].name in ORDERED_ON_POSTGRES
        )
    ]


def test_sqlite_migrations_match_models(tmp_path: Path) -> None:
    path = tmp_path / "migrated.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    upgrade(f"sqlite+aiosqlite:///{path}")  # a second upgrade is a no-op, not an error
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert _differences(connection) == []
        # WAL already: `scrm serve --workers N` forks after the upgrade, and two workers switching a fresh
        # file to WAL at once made one fail with "database is locked" and stop the whole set.
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL run only (SCRM_TEST_DATABASE_URL)")
def test_postgres_migrations_match_models() -> None:
    sync_url = PG_URL.replace("+asyncpg", "+psycopg")
    admin = create_engine(sync_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS scrm_migration_check"))
        connection.execute(text("CREATE DATABASE scrm_migration_check"))
    admin.dispose()
    base = PG_URL.rsplit("/", 1)[0]
    upgrade(f"{base}/scrm_migration_check")
    engine = create_engine(f"{base.replace('+asyncpg', '+psycopg')}/scrm_migration_check")
    with engine.connect() as connection:
        assert _differences(connection) == []
        for name, columns in ORDERED_ON_POSTGRES.items():
            definition = connection.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": name})
            assert str(definition.scalar_one()).endswith(columns)
    engine.dispose()


def test_upgrade_takes_a_url_with_percent_escapes(tmp_path: Path) -> None:
    """A password or socket path is percent-escaped in a URL; Alembic's config must not read `%` as its own."""
    folder = tmp_path / "100%"
    folder.mkdir()
    upgrade(f"sqlite+aiosqlite:///{folder}/escaped.db")
    engine = create_engine(f"sqlite:///{folder}/escaped.db")
    with engine.connect() as connection:
        assert _differences(connection) == []
    engine.dispose()
    url = "postgresql+asyncpg://scrm:p%40ss%25w0rd@/scrm?host=%2Fvar%2Frun%2Fpostgresql"
    assert alembic_config(url).get_main_option("sqlalchemy.url") == url
