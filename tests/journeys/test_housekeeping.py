"""Housekeeping of the outbox looks before it writes: a tick with nothing to do takes no writer's turn."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, update

import storage.push_sweeps
from base.clock import FakeClock
from base.settings import Settings
from storage.db import Database
from storage.pushes import PUSHES
from tests.journeys.helpers import add_follower, add_push, add_template, push_states, wired_dispatcher


def _writes(db: Database) -> tuple[list[str], Any]:
    """Record the write statements of `db`'s engine; call the returned function to stop."""
    written: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            written.append(" ".join(sql.split())[:60])

    event.listen(db.engine.sync_engine, "before_cursor_execute", statement)
    return written, lambda: event.remove(db.engine.sync_engine, "before_cursor_execute", statement)


async def test_a_tick_with_nothing_to_sweep_writes_nothing(db: Database, clock: FakeClock, settings: Settings) -> None:
    fid = await add_follower(db, clock, "o-kim")
    await add_push(db, clock, fid, await add_template(db, clock, "later"), due_in=timedelta(hours=1))
    written, stop = _writes(db)
    try:
        async with wired_dispatcher(db, clock, settings) as wired:
            counts = await wired.dispatcher.housekeeping()
    finally:
        stop()
    assert counts == {"expired": 0, "released": 0, "reclaimed": 0, "unknown": 0}
    assert written == []


async def test_a_push_that_changed_after_the_look_is_left_alone(
    db: Database, clock: FakeClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fid = await add_follower(db, clock, "o-lee")
    version = await add_template(db, clock, "flash")
    overdue = await add_push(db, clock, fid, version, expires_in=timedelta(minutes=1))
    delivered = await add_push(db, clock, fid, version, expires_in=timedelta(minutes=1))
    clock.advance(minutes=2)
    real_look = storage.push_sweeps._look

    async def look_then_another_dispatcher_sends_one(db: Database, sweeps: Any) -> dict[str, list[int]]:
        found = await real_look(db, sweeps)
        async with db.engine.begin() as conn:
            await conn.execute(update(PUSHES).where(PUSHES.c.id == delivered).values(status="sent"))
        return found

    monkeypatch.setattr(storage.push_sweeps, "_look", look_then_another_dispatcher_sends_one)
    async with wired_dispatcher(db, clock, settings) as wired:
        counts = await wired.dispatcher.housekeeping()
    assert counts["expired"] == 1
    states = await push_states(db)
    assert (states[overdue].status, states[delivered].status) == ("expired", "sent")
