"""Alembic migrations, configured in code so no alembic.ini has to sit in the working directory."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from storage.db import configure_sqlite

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic keeps options in a ConfigParser, which reads `%` as interpolation: a percent-escaped
    # password or socket path (`?host=%2Frun%2Fpostgresql`) would fail the upgrade. `%%` is a literal `%`.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (blocking; call from a thread inside a loop).

    A SQLite file is left in WAL mode. `scrm serve --workers N` forks its workers after the upgrade, and
    switching a file to WAL needs it to itself: two workers' first connections switching at once made
    one fail with "database is locked", and its exit stopped the whole set.
    """
    command.upgrade(alembic_config(url), revision)
    target = make_url(url)
    if target.get_backend_name() == "sqlite" and target.database and target.database != ":memory:":
        connection = sqlite3.connect(target.database)
        try:
            configure_sqlite(connection.cursor())
        finally:
            connection.close()


async def upgrade_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, url, revision)


def current(url: str) -> None:
    command.current(alembic_config(url), verbose=False)
