"""Set lookups through the driver: every value found once, whatever the length of the list."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from storage.db import Database
from storage.orders import CHUNK, IN_LENGTHS, driver_select_in

pytestmark = pytest.mark.storage


@pytest.mark.parametrize("count", [1, 7, 8, 9, 300, CHUNK, CHUNK + 1, 2 * CHUNK + 5])
async def test_every_value_is_matched_once_across_padded_chunks(db: Database, count: int) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text("CREATE TEMPORARY TABLE probe (n INTEGER, label TEXT)"))
        await conn.execute(
            text("INSERT INTO probe VALUES (:n, :label)"), [{"n": n, "label": f"#{n}"} for n in range(5000)]
        )
        values = list(range(0, 2 * count, 2))  # half of them exist (n < 5000), none twice
        found = await driver_select_in(conn, "SELECT n, label FROM probe WHERE n {match}", values)
    assert sorted(found) == sorted((n, f"#{n}") for n in values if n < 5000)
    assert all(isinstance(row, tuple) for row in found)
    assert IN_LENGTHS[-1] == CHUNK
