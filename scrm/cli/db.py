"""`scrm db upgrade`: apply the migrations to the configured database."""

from __future__ import annotations

import argparse
from typing import Any

from scrm.cli.common import settings_for
from storage.migrate import upgrade


def register(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="database schema")
    actions = db.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    up = actions.add_parser("upgrade", help="apply every pending migration")
    up.set_defaults(run=_upgrade)


def _upgrade(_args: argparse.Namespace) -> int:
    settings = settings_for()
    upgrade(settings.database_url)
    print(f"database is at the newest schema: {settings.database_url.split('@')[-1]}")
    return 0
