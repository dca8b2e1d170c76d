"""The conversation store: state saved on exit, expiry, and one holder per follower across "processes"."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import event
from sqlmodel import select

from base.clock import FakeClock
from storage.conversations import ConversationBusy, ConversationStore
from storage.db import Database
from storage.models.identity import ConversationRow

pytestmark = pytest.mark.storage


def key() -> str:
    # Unique per run: PostgreSQL is shared by parallel test runs.
    return f"o-{uuid.uuid4().hex[:12]}"


async def test_state_is_saved_when_the_block_exits(db: Database, clock: FakeClock) -> None:
    store = ConversationStore(db, clock)
    openid = key()
    async with store.lock("wx1", openid) as state:
        state.start("bind", "phone", attempt=1)
    stored = await store.peek("wx1", openid)
    assert (stored.flow, stored.step, stored.data) == ("bind", "phone", {"attempt": 1})
    assert stored.expires_at == clock.now() + store._ttl


async def test_an_error_inside_the_block_saves_nothing(db: Database, clock: FakeClock) -> None:
    store = ConversationStore(db, clock)
    openid = key()
    with pytest.raises(RuntimeError):
        async with store.lock("wx1", openid) as state:
            state.start("bind", "code")
            raise RuntimeError("handler failed")
    assert (await store.peek("wx1", openid)).flow is None
    # And the lock was released: the next delivery gets in at once.
    async with store.lock("wx1", openid) as state:
        assert state.flow is None


async def test_a_step_of_a_flow_writes_the_row_twice_the_lease_and_the_state(db: Database, clock: FakeClock) -> None:
    """Each write is a transaction that waits for the database's writer (SQLite has one for everything).

    Taking the lease and saving the state (which lets go of the lease) are two; a third, letting go of
    the lease again after the save already did, only made every conversation message queue once more.
    """
    store = ConversationStore(db, clock)
    openid = key()
    async with store.lock("wx1", openid) as state:
        state.start("bind", "phone")
    writes: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in {"INSERT", "UPDATE", "DELETE"} and "conversation_states" in statement:
            writes.append(verb)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with store.lock("wx1", openid) as state:
            state.goto("code", phone="13800138000")
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert writes == ["UPDATE", "UPDATE"]
    stored = await store.peek("wx1", openid)
    assert (stored.step, stored.data) == ("code", {"phone": "13800138000"})
    async with db.session() as session:
        row = (await session.exec(select(ConversationRow).where(ConversationRow.openid == openid))).one()
    assert row.lock_owner is None and row.lock_until is None  # the next delivery gets in at once


async def test_state_expires_after_ten_minutes_and_says_so_once(db: Database, clock: FakeClock) -> None:
    store = ConversationStore(db, clock)
    openid = key()
    async with store.lock("wx1", openid) as state:
        state.start("bind", "code")
    clock.advance(minutes=9, seconds=59)
    async with store.lock("wx1", openid) as state:
        assert state.flow == "bind"  # and this step extends it again
    clock.advance(minutes=10, seconds=1)
    async with store.lock("wx1", openid) as state:
        assert state.flow is None and state.timed_out_flow == "bind"
    async with store.lock("wx1", openid) as state:
        assert state.timed_out_flow is None


@pytest.mark.concurrency
async def test_one_holder_at_a_time_within_a_process(db: Database, clock: FakeClock) -> None:
    store = ConversationStore(db, clock)
    openid = key()
    order: list[str] = []

    async def step(name: str) -> None:
        async with store.lock("wx1", openid) as state:
            order.append(f"{name}:in")
            state.data[name] = len(state.data)
            await asyncio.sleep(0)
            order.append(f"{name}:out")
            state.flow = "bind"

    await asyncio.gather(step("a"), step("b"), step("c"))
    assert all(order[i].split(":")[0] == order[i + 1].split(":")[0] for i in range(0, 6, 2))
    assert sorted((await store.peek("wx1", openid)).data) == ["a", "b", "c"]


@pytest.mark.concurrency
async def test_a_second_process_waits_for_the_lease(db: Database, clock: FakeClock) -> None:
    # Two stores on one database behave like two gateway processes.
    first = ConversationStore(db, clock)
    second = ConversationStore(db, clock, wait_seconds=0.2, poll_seconds=0.02)
    openid = key()
    async with first.lock("wx1", openid) as state:
        state.start("bind", "phone")
        with pytest.raises(ConversationBusy):
            async with second.lock("wx1", openid):
                pass
    async with second.lock("wx1", openid) as state:
        assert state.step == "phone"


@pytest.mark.concurrency
async def test_a_crashed_holders_lease_runs_out(db: Database, clock: FakeClock) -> None:
    crashed = ConversationStore(db, clock)
    openid = key()
    await crashed._acquire_lease("wx1", openid, "dead-process")
    other = ConversationStore(db, clock, wait_seconds=0.1, poll_seconds=0.02)
    with pytest.raises(ConversationBusy):
        async with other.lock("wx1", openid):
            pass
    clock.advance(seconds=31)
    async with other.lock("wx1", openid) as state:
        assert state.flow is None


async def test_state_can_live_in_the_callers_transaction(db: Database, clock: FakeClock) -> None:
    store = ConversationStore(db, clock)
    openid = key()
    async with db.transaction() as session, store.lock("wx1", openid, session=session) as state:
        state.start("subscribe", "confirm")
    assert (await store.peek("wx1", openid)).step == "confirm"


async def test_an_idle_follower_costs_no_row_until_a_flow_starts(db: Database, clock: FakeClock) -> None:
    store = ConversationStore(db, clock)
    openid = key()
    async with store.lock("wx1", openid, idle=True) as state:
        assert state.flow is None
    async with db.session() as session:
        assert (await session.exec(select(ConversationRow).where(ConversationRow.openid == openid))).first() is None
    async with store.lock("wx1", openid, idle=True) as state:
        state.start("bind", "phone")
    stored = await store.peek("wx1", openid)
    assert (stored.flow, stored.step, stored.expires_at) == ("bind", "phone", clock.now() + store._ttl)


async def test_an_idle_hint_never_overwrites_a_flow_begun_meanwhile(db: Database, clock: FakeClock) -> None:
    store, elsewhere = ConversationStore(db, clock), ConversationStore(db, clock)
    openid = key()
    with pytest.raises(ConversationBusy):
        async with store.lock("wx1", openid, idle=True) as state:
            # Another process starts a binding between this delivery's claim and its save.
            async with elsewhere.lock("wx1", openid) as theirs:
                theirs.start("bind", "code", phone="kept")
            state.start("bind", "phone")
    stored = await store.peek("wx1", openid)
    assert (stored.step, stored.data) == ("code", {"phone": "kept"})
