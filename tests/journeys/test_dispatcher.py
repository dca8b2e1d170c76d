"""The dispatcher against the fake WeChat API: channels, windows, caps, quiet hours, consent, expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import select

from base.clock import CHINA, FakeClock
from base.settings import Settings
from identity.consent import record_consent
from storage.db import Database
from storage.models.pushes import PushAttempt
from tests.journeys.helpers import add_follower, add_push, add_template, at_china, push_states, wired_dispatcher

SERVICE_NOTICE = {
    "kind": "wechat_template",
    "purpose": "service",
    "template_id": "TPL_ORDER_SHIPPED",
    "wechat_keys": ["first"],
    "data": {"first": {"value": "您的订单已发货"}},
}


async def test_a_due_push_goes_out_as_a_customer_service_message_inside_the_window(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    fid = await add_follower(db, clock, "o-alice")
    version = await add_template(db, clock, "welcome")
    push_id = await add_push(db, clock, fid, version)
    async with wired_dispatcher(db, clock, settings) as wired:
        report = await wired.dispatcher.drain()
        sent = wired.fake.sent_to("o-alice")
    assert report.sent == 1
    assert [call.json["text"]["content"] for call in sent if call.json] == ["hello from welcome"]
    push = (await push_states(db))[push_id]
    assert (push.status, push.channel, push.sent_at) == ("sent", "custom", clock.now())
    async with db.session() as session:
        outcomes = [a.outcome for a in (await session.exec(select(PushAttempt))).all()]
    assert outcomes == ["sent"]


async def test_a_push_outside_every_window_is_held_then_delivered_when_the_follower_writes(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    fid = await add_follower(db, clock, "o-bob", last_message_ago=timedelta(days=3))
    first = await add_push(db, clock, fid, await add_template(db, clock, "story"))
    second = await add_push(db, clock, fid, await add_template(db, clock, "product"), due_in=timedelta(seconds=1))
    clock.advance(seconds=2)
    async with wired_dispatcher(db, clock, settings) as wired:
        await wired.dispatcher.drain()
        assert {p.status for p in (await push_states(db)).values()} == {"held"}
        assert wired.fake.sent_to("o-bob") == []
        clock.advance(minutes=10)
        async with db.session() as session:
            from storage.models.core import Follower

            follower = await session.get(Follower, fid)
            assert follower is not None
            follower.last_message_at = clock.now()
            session.add(follower)
            await session.commit()
        report = await wired.dispatcher.deliver_for_follower(fid)
        contents = [c.json["text"]["content"] for c in wired.fake.sent_to("o-bob") if c.json]
    assert report.sent == 2
    assert contents == ["hello from story", "hello from product"]
    states = await push_states(db)
    assert states[first].status == states[second].status == "sent"


async def test_opted_out_and_unsubscribed_followers_are_skipped_but_service_notices_still_go(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    no_consent = await add_follower(db, clock, "o-none", consent=False)
    opted_out = await add_follower(db, clock, "o-out")
    gone = await add_follower(db, clock, "o-gone", status="unsubscribed")
    async with db.session() as session:
        await record_consent(session, opted_out, granted=False, at=clock.now(), text_shown="TD", source="keyword")
        await session.commit()
    marketing = await add_template(db, clock, "promo")
    notice = await add_template(db, clock, "shipped", SERVICE_NOTICE)
    ids = [await add_push(db, clock, f, marketing) for f in (no_consent, opted_out, gone)]
    notice_id = await add_push(db, clock, no_consent, notice)
    async with wired_dispatcher(db, clock, settings) as wired:
        await wired.dispatcher.drain()
        template_calls = wired.fake.calls_to("message/template/send")
    states = await push_states(db)
    assert [states[i].reason for i in ids] == [
        "no marketing consent",
        "no marketing consent",
        "follower is unsubscribed",
    ]
    assert {states[i].status for i in ids} == {"skipped"}
    assert (states[notice_id].status, states[notice_id].channel) == ("sent", "template")
    assert len(template_calls) == 1


async def test_frequency_cap_defers_the_third_push_of_the_day_to_tomorrow_morning(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    fid = await add_follower(db, clock, "o-carol")
    version = await add_template(db, clock, "daily")
    ids = [await add_push(db, clock, fid, version, due_in=timedelta(seconds=i)) for i in range(3)]
    clock.advance(seconds=5)
    async with wired_dispatcher(db, clock, settings) as wired:
        report = await wired.dispatcher.drain()
    assert (report.sent, report.deferred) == (2, 1)
    third = (await push_states(db))[ids[2]]
    assert third.status == "pending"
    assert third.reason == "frequency cap reached"
    local_due = third.due_at.astimezone(CHINA)
    # Midnight is inside quiet hours, so the next allowed moment is 08:30 China time tomorrow.
    assert (local_due.day, local_due.hour, local_due.minute) == (6, 8, 30)


async def test_weekly_cap_counts_the_last_seven_days(db: Database, clock: FakeClock, settings: Settings) -> None:
    settings = settings.with_overrides(cap_per_day=5, cap_per_week=2)
    fid = await add_follower(db, clock, "o-dave")
    version = await add_template(db, clock, "weekly")
    ids = [await add_push(db, clock, fid, version, expires_in=timedelta(days=30)) for _ in range(3)]
    async with wired_dispatcher(db, clock, settings) as wired:
        await wired.dispatcher.drain()
    third = (await push_states(db))[ids[2]]
    assert third.status == "pending"
    assert third.due_at >= clock.now() + timedelta(days=7)


async def test_quiet_hours_hold_marketing_until_the_morning(db: Database, clock: FakeClock, settings: Settings) -> None:
    at_china(clock, 22, 15)
    fid = await add_follower(db, clock, "o-erin")
    push_id = await add_push(db, clock, fid, await add_template(db, clock, "late"))
    async with wired_dispatcher(db, clock, settings) as wired:
        await wired.dispatcher.drain()
        assert wired.fake.sent_to("o-erin") == []
    push = (await push_states(db))[push_id]
    local_due = push.due_at.astimezone(CHINA)
    assert (push.status, push.reason, local_due.hour, local_due.minute) == ("pending", "quiet hours", 8, 30)


async def test_quiet_hours_past_the_expiry_expire_the_push(db: Database, clock: FakeClock, settings: Settings) -> None:
    at_china(clock, 22, 0)
    fid = await add_follower(db, clock, "o-fay")
    push_id = await add_push(db, clock, fid, await add_template(db, clock, "flash"), expires_in=timedelta(hours=2))
    async with wired_dispatcher(db, clock, settings) as wired:
        report = await wired.dispatcher.drain()
    assert report.expired == 1
    assert (await push_states(db))[push_id].status == "expired"


async def test_held_pushes_expire_when_their_expiry_passes(db: Database, clock: FakeClock, settings: Settings) -> None:
    fid = await add_follower(db, clock, "o-gus", last_message_ago=None)
    push_id = await add_push(db, clock, fid, await add_template(db, clock, "story"), expires_in=timedelta(days=1))
    async with wired_dispatcher(db, clock, settings) as wired:
        await wired.dispatcher.drain()
        assert (await push_states(db))[push_id].status == "held"
        clock.advance(days=1, seconds=1)
        counts = await wired.dispatcher.housekeeping()
    assert counts["expired"] == 1
    assert (await push_states(db))[push_id].status == "expired"


async def test_the_one_minute_event_window_carries_three_messages(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    fid = await add_follower(db, clock, "o-hal", last_message_ago=None, last_event_ago=timedelta(seconds=5))
    version = await add_template(db, clock, "burst", {"kind": "text", "purpose": "service", "content": "hi"})
    for i in range(4):
        await add_push(db, clock, fid, version, due_in=timedelta(milliseconds=i))
    clock.advance(seconds=1)
    async with wired_dispatcher(db, clock, settings) as wired:
        report = await wired.dispatcher.drain()
    assert (report.sent, report.held) == (3, 1)


async def test_the_tick_requeues_held_pushes_of_a_follower_who_wrote_elsewhere(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    from storage.models.core import Follower

    fid = await add_follower(db, clock, "o-ivy", last_message_ago=None)
    push_id = await add_push(db, clock, fid, await add_template(db, clock, "story"))
    async with wired_dispatcher(db, clock, settings) as wired:
        await wired.dispatcher.drain()
        assert (await push_states(db))[push_id].status == "held"
        clock.advance(hours=1)
        async with db.session() as session:
            follower = await session.get(Follower, fid)
            assert follower is not None
            follower.last_message_at = clock.now()
            session.add(follower)
            await session.commit()
        assert (await wired.dispatcher.housekeeping())["released"] == 1
        await wired.dispatcher.drain()
    assert (await push_states(db))[push_id].status == "sent"


async def test_a_claim_commits_before_the_followers_facts_are_read(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    """A claim's transaction holds SQLite's one writer, which every callback's durable write waits for:
    it does the claim and nothing else."""
    fid = await add_follower(db, clock, "o-carol")
    await add_push(db, clock, fid, await add_template(db, clock, "welcome"))
    seen: list[tuple[int, str]] = []

    def statement(conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append((id(conn), " ".join(sql.split())[:60]))

    def commit(conn: Any) -> None:
        seen.append((id(conn), "COMMIT"))

    event.listen(db.engine.sync_engine, "before_cursor_execute", statement)
    event.listen(db.engine.sync_engine, "commit", commit)
    try:
        async with wired_dispatcher(db, clock, settings) as wired:
            report = await wired.dispatcher.drain()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", statement)
        event.remove(db.engine.sync_engine, "commit", commit)
    assert report.sent == 1
    claim_at = next(
        n for n, (_c, sql) in enumerate(seen) if sql.startswith("UPDATE pushes SET status=") and "claim" in sql
    )
    claimer = seen[claim_at][0]
    assert next(sql for conn, sql in seen[claim_at + 1 :] if conn == claimer) == "COMMIT"
