"""Storage contract of the gateway's SQL: the same assertions on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from base.clock import FakeClock
from storage.db import Database
from storage.followers import ensure_follower, mark_unsubscribed, record_interaction
from storage.group_commit import group_commit
from storage.inbound import (
    ABANDONED,
    DONE,
    PROCESSING,
    claim_delivery,
    find_delivery,
    finish_delivery,
    purge_deliveries,
)
from storage.models.core import Follower, InboundEvent

pytestmark = pytest.mark.storage


async def _claim(db: Database, key: str, clock: FakeClock) -> int | None:
    return await claim_delivery(
        db,
        dedup_key=key,
        appid="wxa",
        openid="o1",
        kind="text",
        msg_id="1",
        received_at=clock.now(),
        payload={"a": "b"},
    )


async def test_a_key_is_claimed_once(db: Database, clock: FakeClock) -> None:
    first = await _claim(db, "msg:o1:1", clock)
    assert first is not None
    assert await _claim(db, "msg:o1:1", clock) is None
    found = await find_delivery(db, "msg:o1:1")
    assert found is not None and found.id == first and found.state == PROCESSING
    assert found.received_at == clock.now()


async def test_finish_stores_the_reply(db: Database, clock: FakeClock) -> None:
    delivery_id = await _claim(db, "k", clock)
    assert delivery_id is not None
    await finish_delivery(
        db, delivery_id, reply={"kind": "text", "content": "你好"}, delivered_via="inline", finished_at=clock.now()
    )
    found = await find_delivery(db, "k")
    assert found is not None
    assert (found.state, found.reply, found.delivered_via) == (DONE, {"kind": "text", "content": "你好"}, "inline")


async def test_concurrent_finishes_store_each_reply(db: Database, clock: FakeClock) -> None:
    # On PostgreSQL finishes waiting together share one UPDATE; each row still gets its own values.
    ids = [await _claim(db, f"k{n}", clock) for n in range(12)]
    await asyncio.gather(
        *(
            finish_delivery(
                db,
                delivery_id,
                reply=None if n % 3 == 0 else {"kind": "text", "content": f"回复 {n}"},
                delivered_via="none" if n % 3 == 0 else "inline",
                finished_at=clock.now() + timedelta(seconds=n),
            )
            for n, delivery_id in enumerate(ids)
            if delivery_id is not None
        )
    )
    for n in range(12):
        found = await find_delivery(db, f"k{n}")
        assert found is not None and found.state == DONE
        expected = None if n % 3 == 0 else {"kind": "text", "content": f"回复 {n}"}
        assert (found.reply, found.delivered_via) == (expected, "none" if n % 3 == 0 else "inline")
    async with db.session() as session:
        finished = {row.id: row.finished_at for row in (await session.exec(select(InboundEvent))).all()}
    assert [finished[i] for i in ids if i is not None] == [clock.now() + timedelta(seconds=n) for n in range(12)]


async def test_a_finish_that_fails_fails_alone(db: Database, clock: FakeClock) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite does not enforce the column's length")
    ids = [await _claim(db, f"k{n}", clock) for n in range(4)]
    results = await asyncio.gather(
        *(
            finish_delivery(
                db, delivery_id, reply=None, delivered_via="x" * 40 if n == 2 else "none", finished_at=clock.now()
            )
            for n, delivery_id in enumerate(ids)
            if delivery_id is not None
        ),
        return_exceptions=True,
    )
    assert [isinstance(result, Exception) for result in results] == [False, False, True, False]
    states = [found.state for n in range(4) if (found := await find_delivery(db, f"k{n}")) is not None]
    assert states == [DONE, DONE, PROCESSING, DONE]


async def test_concurrent_claims_have_one_winner(db: Database, clock: FakeClock) -> None:
    results = await asyncio.gather(*(_claim(db, "race", clock) for _ in range(8)))
    assert sum(result is not None for result in results) == 1


async def test_purge_abandons_stale_rows_and_deletes_old_ones(db: Database, clock: FakeClock) -> None:
    old = await _claim(db, "old", clock)
    assert old is not None
    await finish_delivery(db, old, reply=None, delivered_via="none", finished_at=clock.now())
    clock.advance(hours=25)
    await _claim(db, "stuck", clock)
    clock.advance(minutes=2)
    await _claim(db, "fresh", clock)
    assert await purge_deliveries(db, clock.now(), retention=timedelta(days=1)) == (1, 1)
    async with db.session() as session:
        rows = {row.dedup_key: row.state for row in (await session.exec(select(InboundEvent))).all()}
    assert rows == {"stuck": ABANDONED, "fresh": PROCESSING}
    with pytest.raises(ValueError, match="retention"):
        await purge_deliveries(db, clock.now(), retention=timedelta(seconds=5))


async def test_record_interaction_creates_then_updates(db: Database, clock: FakeClock) -> None:
    writer = group_commit(db)
    created = await record_interaction(
        writer,
        appid="wxa",
        openid="o1",
        kind="event.subscribe",
        at=clock.now(),
        is_message=False,
        opens_event_window=True,
    )
    first_at = clock.now()
    clock.advance(minutes=1)
    updated = await record_interaction(
        writer,
        appid="wxa",
        openid="o1",
        kind="text",
        at=clock.now(),
        is_message=True,
        opens_event_window=False,
        unionid="u-1",
    )
    assert updated.id == created.id
    assert (updated.last_event_at, updated.last_message_at) == (first_at, clock.now())
    assert (updated.last_interaction_kind, updated.unionid, updated.created_at) == ("text", "u-1", first_at)
    same = await ensure_follower(writer, appid="wxa", openid="o1", at=clock.now() + timedelta(hours=1))
    other_account = await ensure_follower(writer, appid="wxb", openid="o1", at=clock.now())
    assert same.id == created.id and same.last_message_at == clock.now()
    assert other_account.id != created.id and other_account.last_interaction_at is None


async def test_a_recorded_follower_is_updated_through_a_session(db: Database, clock: FakeClock) -> None:
    found = await record_interaction(
        group_commit(db),
        appid="wxa",
        openid="o2",
        kind="text",
        at=clock.now(),
        is_message=True,
        opens_event_window=False,
    )
    async with db.session() as session:
        session.add(found)
        mark_unsubscribed(found, at=clock.now())
        await session.commit()
    async with db.session() as session:
        rows = (await session.exec(select(Follower))).all()
    assert [(row.openid, row.status, row.unsubscribed_at) for row in rows] == [("o2", "unsubscribed", clock.now())]


async def test_concurrent_interactions_of_one_new_follower_make_one_row(db: Database, clock: FakeClock) -> None:
    writer = group_commit(db)
    results = await asyncio.gather(
        *(
            record_interaction(
                writer,
                appid="wxa",
                openid="o-burst",
                kind="text",
                at=clock.now(),
                is_message=True,
                opens_event_window=False,
            )
            for _ in range(6)
        )
    )
    assert len({follower.id for follower in results}) == 1
