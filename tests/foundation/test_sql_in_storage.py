"""Every SQL statement lives in `storage/` (issue 15): the modules outside it that still build SQL are
exactly the ones listed here, and the list may only shrink. `tools/sql_outside_storage.py` finds them.

Moving a module's SQL into storage means deleting its line below; a new module outside storage that
builds SQL fails this test (put its queries in a storage module, as plain async functions taking the
session or connection)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]

# path -> why it is still here and who moves it
STILL_BUILDING_SQL: dict[str, str] = {}


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sql_outside_storage", ROOT / "tools" / "sql_outside_storage.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_the_listed_modules_outside_storage_build_sql() -> None:
    found = set(_checker().files_building_sql(ROOT))
    new = sorted(found - set(STILL_BUILDING_SQL))
    moved = sorted(set(STILL_BUILDING_SQL) - found)
    assert new == [], f"these build SQL outside storage/; move their statements into storage: {new}"
    assert moved == [], f"these no longer build SQL; delete their lines from STILL_BUILDING_SQL: {moved}"


def test_the_checker_sees_each_way_of_building_sql() -> None:
    reasons = _checker().reasons
    assert reasons("from sqlmodel import select\n")
    assert reasons("from sqlalchemy.dialects.postgresql import insert\n")
    assert reasons("async def f(session):\n    await session.exec(q)\n")
    assert reasons("Q = 'UPDATE followers SET tag = 1'\n")
    assert reasons("Q = 'select id from profiles where id = 1'\n")
    # A docstring that talks about SQL, an exception class and a session's ORM add are not statements.
    assert not reasons('"""The claim is an INSERT INTO inbound_events."""\n')
    assert not reasons("from sqlalchemy.exc import IntegrityError\n")
    assert not reasons("def f(session):\n    session.add(row)\n")
