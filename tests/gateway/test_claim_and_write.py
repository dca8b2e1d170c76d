"""The claim and the follower's interaction committed together: recorded once, even for concurrent retries."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import select

from base.clock import FakeClock
from storage.db import Database
from storage.followers import FollowerRecord, interaction_write
from storage.group_commit import BatchedStatement, ChainedStatement, GroupCommit, Write, close_group_commit
from storage.inbound import Claim, claim_and_write, find_delivery, finish_delivery
from storage.models.core import Follower, InboundEvent
from storage.models.identity import ConversationRow
from storage.models.pushes import Push

pytestmark = pytest.mark.storage


async def _claim(db: Database, key: str, clock: FakeClock, then: Write[Any] | None) -> Claim[Any]:
    return await claim_and_write(
        db,
        dedup_key=key,
        appid="wxa",
        openid="o1",
        kind="text",
        msg_id="1",
        received_at=clock.now(),
        payload={"MsgId": "1"},
        then=then,
    )


def _interaction(clock: FakeClock, kind: str = "text") -> Write[FollowerRecord]:
    return interaction_write(
        appid="wxa", openid="o1", kind=kind, at=clock.now(), is_message=True, opens_event_window=False
    )


def _counted(write: Write[FollowerRecord], runs: list[str], name: str) -> Write[FollowerRecord]:
    def sqlite_step(cursor: sqlite3.Cursor) -> FollowerRecord:
        runs.append(name)
        return write.sqlite_step(cursor)

    async def engine_step(conn: AsyncConnection) -> FollowerRecord:
        runs.append(name)
        return await write.engine_step(conn)

    return Write(sqlite_step, engine_step)


async def _followers(db: Database) -> list[Follower]:
    async with db.session() as session:
        return list((await session.exec(select(Follower))).all())


async def test_a_first_delivery_records_the_interaction_with_its_claim(db: Database, clock: FakeClock) -> None:
    claim = await _claim(db, "msg:o1:1", clock, _interaction(clock))
    assert claim.delivery_id is not None and claim.error is None
    assert claim.written is not None
    [row] = await _followers(db)
    assert claim.written.id == row.id and row.last_message_at == clock.now() and row.last_interaction_kind == "text"
    model = claim.written.model()
    assert (model.id, model.openid, model.last_message_at, model.tags) == (row.id, "o1", clock.now(), [])
    found = await find_delivery(db, "msg:o1:1")
    assert found is not None and found.id == claim.delivery_id


async def test_a_retry_neither_claims_nor_writes(db: Database, clock: FakeClock) -> None:
    runs: list[str] = []
    first = await _claim(db, "msg:o1:1", clock, _counted(_interaction(clock), runs, "first"))
    clock.advance(seconds=5)
    retry = await _claim(db, "msg:o1:1", clock, _counted(_interaction(clock, "retry"), runs, "retry"))
    assert first.delivery_id is not None
    assert (retry.delivery_id, retry.written, retry.error) == (None, None, None)
    assert runs == ["first"]
    [row] = await _followers(db)
    assert row.last_interaction_kind == "text"


async def test_concurrent_deliveries_of_one_message_write_once(db: Database, clock: FakeClock) -> None:
    runs: list[str] = []
    claims = await asyncio.gather(
        *(_claim(db, "msg:o1:1", clock, _counted(_interaction(clock, f"k{n}"), runs, f"k{n}")) for n in range(6))
    )
    winners = [claim for claim in claims if claim.delivery_id is not None]
    assert len(winners) == 1 and len(runs) == 1
    [row] = await _followers(db)
    assert row.last_interaction_kind == runs[0]
    async with db.session() as session:
        assert len((await session.exec(select(InboundEvent))).all()) == 1


async def test_a_failing_write_is_rolled_back_and_the_claim_stands(db: Database, clock: FakeClock) -> None:
    interaction = _interaction(clock)

    def sqlite_step(cursor: sqlite3.Cursor) -> FollowerRecord:
        interaction.sqlite_step(cursor)
        cursor.execute("INSERT INTO followers (appid) VALUES (NULL)")
        raise AssertionError("the insert above must fail")

    async def engine_step(conn: AsyncConnection) -> FollowerRecord:
        await interaction.engine_step(conn)
        await conn.execute(text("INSERT INTO followers (appid) VALUES (NULL)"))
        raise AssertionError("the insert above must fail")

    claim = await _claim(db, "msg:o1:1", clock, Write(sqlite_step, engine_step))
    assert claim.delivery_id is not None and claim.written is None
    assert claim.error is not None and not isinstance(claim.error, AssertionError)
    # The follower upsert before the failure went with it; the claim did not.
    assert await _followers(db) == []
    found = await find_delivery(db, "msg:o1:1")
    assert found is not None and found.id == claim.delivery_id


async def test_a_retry_of_the_one_statement_write_changes_nothing(db: Database, clock: FakeClock) -> None:
    # The interaction as the gateway submits it: on PostgreSQL one statement with the claim.
    first = await _claim(db, "msg:o1:1", clock, _interaction(clock))
    clock.advance(seconds=5)
    retry = await _claim(db, "msg:o1:1", clock, _interaction(clock, "retry"))
    assert first.delivery_id is not None and first.written is not None
    assert (retry.delivery_id, retry.written, retry.error) == (None, None, None)
    [row] = await _followers(db)
    assert row.last_interaction_kind == "text" and row.last_message_at == first.written.model().last_message_at


async def test_a_failing_one_statement_write_leaves_the_claim_and_reports_why(db: Database, clock: FakeClock) -> None:
    broken = "INSERT INTO followers (appid) VALUES (NULL)"

    def sqlite_step(cursor: sqlite3.Cursor) -> FollowerRecord:
        cursor.execute(broken)
        raise AssertionError("the insert above must fail")

    async def engine_step(conn: AsyncConnection) -> FollowerRecord:
        await conn.execute(text(broken))
        raise AssertionError("the insert above must fail")

    async def driver_step(connection: Any) -> FollowerRecord:
        await connection.execute(broken)
        raise AssertionError("the insert above must fail")

    chained = ChainedStatement(
        sql=lambda before, guard, first: (
            f"WITH {before}, f AS (INSERT INTO followers (appid) SELECT NULL WHERE EXISTS (SELECT 1 FROM {guard})"  # noqa: S608
            f" RETURNING id) SELECT (SELECT id FROM {guard}) AS guard_id_, f.id FROM f"
        ),
        params=(),
        result=lambda row: FollowerRecord(dict(row)),
    )
    claim = await _claim(db, "msg:o1:1", clock, Write(sqlite_step, engine_step, driver_step, chained))
    assert claim.delivery_id is not None and claim.written is None
    assert claim.error is not None and not isinstance(claim.error, AssertionError)
    assert await _followers(db) == []
    found = await find_delivery(db, "msg:o1:1")
    assert found is not None and found.id == claim.delivery_id


async def _situation(db: Database, clock: FakeClock, key: str) -> FollowerRecord:
    claim: Claim[FollowerRecord] = await _claim(db, key, clock, _interaction(clock))
    assert claim.written is not None
    return claim.written


async def test_the_claim_reports_whether_pushes_or_a_conversation_wait(db: Database, clock: FakeClock) -> None:
    first = await _situation(db, clock, "msg:o1:1")
    assert (first.has_waiting_pushes, first.in_conversation) == (False, False)
    async with db.transaction() as session:
        session.add(ConversationRow(appid="wxa", openid="o1", flow="bind", step="phone", updated_at=clock.now()))
        for status, due in (("sent", clock.now()), ("pending", clock.now() + timedelta(hours=1))):
            session.add(_push(first.id, status, due, clock))
    # A push sent already, or pending but not yet due, does not wait for this interaction.
    second = await _situation(db, clock, "msg:o1:2")
    assert (second.has_waiting_pushes, second.in_conversation) == (False, True)
    async with db.transaction() as session:
        session.add(_push(first.id, "held", clock.now() - timedelta(days=1), clock))
    third = await _situation(db, clock, "msg:o1:3")
    assert third.has_waiting_pushes


def _push(follower_id: int, status: str, due_at: datetime, clock: FakeClock) -> Push:
    return Push(
        follower_id=follower_id, appid="wxa", openid="o1", template_version_id=1, status=status,
        due_at=due_at, created_at=clock.now(),
    )  # fmt: skip


async def test_on_postgresql_the_claim_and_the_interaction_are_one_statement(db: Database, clock: FakeClock) -> None:
    if not db.is_postgres:
        pytest.skip("the one-statement spelling is PostgreSQL's")
    statements: list[str] = []
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        raw.add_query_logger(lambda record: statements.append(record.query))
        write = _interaction(clock)
        claim: Claim[FollowerRecord] = await claim_and_write(
            db, dedup_key="msg:o1:9", appid="wxa", openid="o1", kind="text", msg_id="9",
            received_at=clock.now(), payload={}, writer=cast(GroupCommit, _OnConnection(raw)), then=write,
        )  # fmt: skip
    assert claim.delivery_id is not None and claim.written is not None and claim.error is None
    assert claim.written.values["last_interaction_kind"] == "text"
    # (asyncpg looks up the array types once per connection, in statements of its own.)
    claims = [sql for sql in statements if "inbound_events" in sql]
    assert len(claims) == 1 and claims[0].startswith("WITH input_ AS (SELECT * FROM unnest(")


class _OnConnection:
    """A writer that runs the PostgreSQL spelling on one given connection (to watch its statements)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def submit(self, sqlite_step: Any, engine_step: Any, driver_step: Any) -> Any:
        return await driver_step(self.connection)

    async def submit_batched(self, batched: BatchedStatement, row: tuple[Any, ...], *_rest: Any) -> Any:
        [result] = await batched.run(self.connection, [row])
        return result


def _watched(db_url: str, statements: list[str]) -> Database:
    """A database whose every connection reports the statements it runs."""
    watched = Database(db_url, pool_size=4)

    def watch(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda record: statements.append(record.query))

    event.listen(watched.engine.sync_engine, "connect", watch)
    return watched


async def _claims(
    db: Database, clock: FakeClock, deliveries: list[tuple[str, str]]
) -> list[Claim[FollowerRecord] | BaseException]:
    """Claim (dedup key, openid) deliveries all at once, each with its follower's interaction."""
    return list(
        await asyncio.gather(
            *(
                claim_and_write(
                    db,
                    dedup_key=key,
                    appid="wxa",
                    openid=openid,
                    kind="text",
                    msg_id=key,
                    received_at=clock.now(),
                    payload={"Content": key},
                    then=interaction_write(
                        appid="wxa",
                        openid=openid,
                        kind="text",
                        at=clock.now(),
                        is_message=True,
                        opens_event_window=False,
                    ),
                )
                for key, openid in deliveries
            ),
            return_exceptions=True,
        )
    )


def _all_claims(outcomes: list[Claim[FollowerRecord] | BaseException]) -> list[Claim[FollowerRecord]]:
    claims = [outcome for outcome in outcomes if isinstance(outcome, Claim)]
    assert len(claims) == len(outcomes), outcomes
    return claims


async def test_on_postgresql_callbacks_arriving_together_are_claimed_in_one_statement(
    db: Database, db_url: str, clock: FakeClock
) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite shares a transaction instead")
    statements: list[str] = []
    watched = _watched(db_url, statements)
    try:
        claims = _all_claims(await _claims(watched, clock, [(f"burst:{n}", f"o{n}") for n in range(30)]))
    finally:
        await watched.dispose()
    claiming = [sql for sql in statements if "inbound_events" in sql]
    # Claims arriving together share a statement.
    assert 1 <= len(claiming) <= 3 and claiming[-1].startswith("WITH input_")
    ids = {claim.delivery_id for claim in claims}
    assert None not in ids and len(ids) == 30
    records = [claim.written for claim in claims]
    assert [record.values["openid"] if record else None for record in records] == [f"o{n}" for n in range(30)]
    async with db.session() as session:
        rows = (await session.exec(select(InboundEvent))).all()
    assert {(row.id, row.dedup_key, row.payload["Content"]) for row in rows} == {
        (claim.delivery_id, f"burst:{n}", f"burst:{n}") for n, claim in enumerate(claims)
    }


async def test_a_retry_and_a_busy_follower_in_one_burst_are_each_written_once(db: Database, clock: FakeClock) -> None:
    # msg:1 twice (a retry arriving with its first delivery) and o1 with three messages: on PostgreSQL one
    # statement can hold neither two claims of one key nor two upserts of one follower.
    deliveries = [("msg:1", "o1"), ("msg:1", "o1"), ("msg:2", "o1"), ("msg:3", "o1"), ("msg:4", "o2")]
    claimed = _all_claims(await _claims(db, clock, deliveries))
    assert sorted(claim.delivery_id is None for claim in claimed[:2]) == [False, True]
    assert all(claim.delivery_id is not None and claim.written is not None for claim in claimed[2:])
    assert sorted((row.openid, row.last_interaction_kind) for row in await _followers(db)) == [
        ("o1", "text"), ("o2", "text")
    ]  # fmt: skip
    async with db.session() as session:
        keys = sorted(row.dedup_key for row in (await session.exec(select(InboundEvent))).all())
    assert keys == ["msg:1", "msg:2", "msg:3", "msg:4"]


async def test_on_postgresql_a_bad_delivery_in_a_burst_fails_alone(db: Database, clock: FakeClock) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite does not hold text to its column's length")
    # An openid longer than its column fails the statement it is in; its neighbours are claimed anyway.
    deliveries = [("msg:1", "o1"), ("msg:2", "o" * 300), ("msg:3", "o3")]
    first, bad, last = await _claims(db, clock, deliveries)
    assert isinstance(bad, Exception)
    for claim in (first, last):
        assert isinstance(claim, Claim) and claim.delivery_id is not None and claim.written is not None
    assert sorted(row.openid for row in await _followers(db)) == ["o1", "o3"]


async def test_a_burst_of_callbacks_does_not_churn_postgresql_connections(db: Database, db_url: str) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite's writes go through one connection")
    small = Database(db_url, pool_size=4)
    opened: list[object] = []
    event.listen(small.engine.sync_engine, "connect", lambda *_: opened.append(1))
    try:
        clock = FakeClock()
        for _round in range(3):
            await asyncio.gather(
                *(
                    claim_and_write(
                        small,
                        dedup_key=f"burst:{_round}:{n}",
                        appid="wxa",
                        openid=f"o{n}",
                        kind="text",
                        msg_id=str(n),
                        received_at=clock.now(),
                        payload={},
                        then=_interaction(clock),
                    )  # fmt: skip
                    for n in range(40)
                )
            )
    finally:
        await small.dispose()
    # The hot path keeps to part of the pool: connections are reused, not opened and closed per burst.
    assert len(opened) <= 4


async def test_on_postgresql_finishing_a_delivery_reads_the_ledger_by_its_key(db: Database, clock: FakeClock) -> None:
    # A young ledger (a fresh install, or the first minutes of a benchmark) must not be read whole by every
    # finish: a join over unnest, planned once for a small table, scanned all of it each time.
    if not db.is_postgres:
        pytest.skip("PostgreSQL's plans")
    claims = _all_claims(await _claims(db, clock, [(f"young:{n}", f"o{n}") for n in range(50)]))
    delivery_id = claims[0].delivery_id
    assert delivery_id is not None
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        # As a cached statement is planned after a few runs: once, for any values.
        await raw.execute("SET plan_cache_mode = force_generic_plan")
        try:
            async with raw.transaction():
                await finish_delivery(
                    db, delivery_id, reply=None, delivered_via="none", finished_at=clock.now(),
                    writer=cast(GroupCommit, _OnConnection(raw)),
                )  # fmt: skip
                scanned = await raw.fetchval("SELECT pg_stat_get_xact_tuples_returned('inbound_events'::regclass)")
        finally:
            await raw.execute("RESET plan_cache_mode")
    assert scanned == 0
    found = await find_delivery(db, "young:0")
    assert found is not None and found.state == "done"


async def test_after_the_reply_a_finish_waits_for_the_next_claims_transaction(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At a few callbacks in flight, each finish (and timeline write) used to be a hop to the writer and a
    # commit of its own; now it goes with the next claim, or alone after a moment.
    if db.is_postgres:
        pytest.skip("PostgreSQL shares statements, not transactions (the next test)")
    batches: list[int] = []
    run_batch = GroupCommit._run_batch

    def counted(self: GroupCommit, steps: list[Any]) -> list[tuple[bool, Any]]:
        batches.append(len(steps))
        return run_batch(self, steps)

    monkeypatch.setattr(GroupCommit, "_run_batch", counted)
    [first] = _all_claims(await _claims(db, clock, [("msg:1", "o1")]))
    assert first.delivery_id is not None
    finishing = asyncio.create_task(
        finish_delivery(db, first.delivery_id, reply=None, delivered_via="none", finished_at=clock.now())
    )
    await asyncio.sleep(0.002)  # the next callback arrives
    _all_claims(await _claims(db, clock, [("msg:2", "o2")]))
    await finishing
    assert batches == [1, 2]
    # With no callback after it, a finish still goes, alone and soon.
    [last] = _all_claims(await _claims(db, clock, [("msg:3", "o3")]))
    assert last.delivery_id is not None
    await asyncio.wait_for(
        finish_delivery(db, last.delivery_id, reply=None, delivered_via="none", finished_at=clock.now()), timeout=5
    )
    assert batches == [1, 2, 1, 1]
    found = await find_delivery(db, "msg:1")
    assert found is not None and found.state == "done"


async def test_on_postgresql_finishes_a_moment_apart_share_one_statement(
    db: Database, db_url: str, clock: FakeClock
) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite shares a transaction instead (the test before)")
    claims = _all_claims(await _claims(db, clock, [(f"apart:{n}", f"o{n}") for n in range(5)]))
    statements: list[str] = []
    watched = _watched(db_url, statements)
    try:
        finishing = []
        for claim in claims:
            assert claim.delivery_id is not None
            finishing.append(
                asyncio.create_task(
                    finish_delivery(
                        watched, claim.delivery_id, reply=None, delivered_via="none", finished_at=clock.now()
                    )
                )
            )
            await asyncio.sleep(0.001)
        await asyncio.gather(*finishing)
    finally:
        await watched.dispose()
    assert len([sql for sql in statements if sql.startswith("UPDATE inbound_events")]) == 1
    async with db.session() as session:
        assert {row.state for row in (await session.exec(select(InboundEvent))).all()} == {"done"}


async def test_closing_the_writer_commits_what_still_lingers(db: Database, clock: FakeClock) -> None:
    [claim] = _all_claims(await _claims(db, clock, [("msg:1", "o1")]))
    assert claim.delivery_id is not None
    finishing = asyncio.create_task(
        finish_delivery(db, claim.delivery_id, reply=None, delivered_via="none", finished_at=clock.now())
    )
    await asyncio.sleep(0)
    await close_group_commit(db)
    found = await find_delivery(db, "msg:1")
    assert found is not None and found.state == "done"
    await finishing
