"""Alembic migrations, configured in code so no alembic.ini has to sit in the working directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic keeps options in a ConfigParser, which reads `%` as interpolation: a percent-escaped
    # password or socket path (`?host=%2Frun%2Fpostgresql`) would fail the upgrade. `%%` is a literal `%`.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (blocking; call from a thread inside a loop)."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, url, revision)


def current(url: str) -> None:
    command.current(alembic_config(url), verbose=False)
