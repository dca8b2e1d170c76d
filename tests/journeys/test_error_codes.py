"""Every error code of WECHAT.md's table, injected into the fake API, gets the reaction the table lists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from base.clock import CHINA, FakeClock
from base.settings import Settings
from storage.db import Database
from storage.models.consent import Consent
from storage.models.pushes import ApiPause
from tests.journeys.helpers import add_follower, add_push, add_template, follower, push_states, wired_dispatcher

CUSTOM = "message/custom/send"


async def _send_with_failure(
    db: Database, clock: FakeClock, settings: Settings, errcode: int, times: int = 1
) -> tuple[int, int, int]:
    """One push to a follower inside the window, with `errcode` injected; returns (push, follower, calls)."""
    fid = await add_follower(db, clock, "o-target")
    push_id = await add_push(db, clock, fid, await add_template(db, clock, "msg"))
    async with wired_dispatcher(db, clock, settings) as wired:
        wired.fake.fail(CUSTOM, errcode=errcode, times=times)
        await wired.dispatcher.drain()
        calls = len(wired.fake.calls_to(CUSTOM))
    return push_id, fid, calls


@pytest.mark.parametrize("errcode", [-1, 45011])
async def test_busy_codes_retry_later_with_backoff(
    db: Database, clock: FakeClock, settings: Settings, errcode: int
) -> None:
    push_id, _, _ = await _send_with_failure(db, clock, settings, errcode)
    push = (await push_states(db))[push_id]
    assert (push.status, push.attempts, push.errcode) == ("pending", 1, errcode)
    assert push.due_at == clock.now() + timedelta(seconds=30)


async def test_retries_are_bounded(db: Database, clock: FakeClock, settings: Settings) -> None:
    fid = await add_follower(db, clock, "o-busy")
    push_id = await add_push(db, clock, fid, await add_template(db, clock, "msg"), expires_in=None)
    async with wired_dispatcher(db, clock, settings) as wired:
        wired.fake.fail(CUSTOM, errcode=-1, times=None)
        for _ in range(6):
            await wired.dispatcher.drain()
            clock.advance(minutes=30)
        calls = len(wired.fake.calls_to(CUSTOM))
    push = (await push_states(db))[push_id]
    assert push.status == "failed"
    assert calls == 5
    assert push.reason.startswith("gave up after 5 attempts")


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
async def test_a_refused_token_is_refreshed_and_the_send_retried_once(
    db: Database, clock: FakeClock, settings: Settings, errcode: int
) -> None:
    push_id, _, calls = await _send_with_failure(db, clock, settings, errcode)
    assert (await push_states(db))[push_id].status == "sent"
    assert calls == 2


async def test_a_token_refused_twice_becomes_a_later_retry(db: Database, clock: FakeClock, settings: Settings) -> None:
    push_id, _, _ = await _send_with_failure(db, clock, settings, 40001, times=2)
    push = (await push_states(db))[push_id]
    assert (push.status, push.attempts) == ("pending", 1)


@pytest.mark.parametrize(
    ("errcode", "follower_status"),
    [
        (40003, "gone"),
        (46004, "gone"),
        (50005, "gone"),
        (43004, "unsubscribed"),
        (43019, "blocked"),
        (48002, "blocked"),
    ],
)
async def test_unreachable_followers_are_dropped_and_marked(
    db: Database, clock: FakeClock, settings: Settings, errcode: int, follower_status: str
) -> None:
    push_id, fid, _ = await _send_with_failure(db, clock, settings, errcode)
    push = (await push_states(db))[push_id]
    assert (push.status, push.errcode) == ("skipped", errcode)
    assert (await follower(db, fid)).status == follower_status


async def test_quota_exhausted_pauses_the_api_until_midnight_china_time(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    push_id, _, _ = await _send_with_failure(db, clock, settings, 45009)
    push = (await push_states(db))[push_id]
    midnight = push.due_at.astimezone(CHINA)
    assert (push.status, midnight.hour, midnight.minute, midnight.day) == ("pending", 0, 0, 6)
    async with db.session() as session:
        pause = (await session.exec(select(ApiPause))).one()
    assert (pause.api, pause.errcode, pause.until) == ("custom", 45009, push.due_at)


async def test_a_paused_api_is_not_called_by_the_next_batch(db: Database, clock: FakeClock, settings: Settings) -> None:
    fid = await add_follower(db, clock, "o-q1")
    version = await add_template(db, clock, "msg")
    await add_push(db, clock, fid, version)
    async with wired_dispatcher(db, clock, settings) as wired:
        wired.fake.fail(CUSTOM, errcode=45009, times=1)
        await wired.dispatcher.drain()
        other = await add_follower(db, clock, "o-q2")
        later = await add_push(db, clock, other, version)
        await wired.dispatcher.drain()
        calls = len(wired.fake.calls_to(CUSTOM))
    assert calls == 1
    assert (await push_states(db))[later].reason == "customer-service API paused"


@pytest.mark.parametrize("errcode", [45015, 45047])
async def test_window_refusals_hold_the_push(db: Database, clock: FakeClock, settings: Settings, errcode: int) -> None:
    push_id, _, _ = await _send_with_failure(db, clock, settings, errcode)
    push = (await push_states(db))[push_id]
    assert (push.status, push.errcode, push.held_at) == ("held", errcode, clock.now())


async def test_count_exceeded_stops_custom_sends_until_the_follower_interacts(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    push_id, fid, _ = await _send_with_failure(db, clock, settings, 45047)
    version = await add_template(db, clock, "next")
    later = await add_push(db, clock, fid, version, due_in=timedelta(minutes=1))
    clock.advance(minutes=2)
    async with wired_dispatcher(db, clock, settings) as wired:
        await wired.dispatcher.drain()
        assert len(wired.fake.calls_to(CUSTOM)) == 0
    states = await push_states(db)
    assert states[later].status == "held"
    assert "45047" in states[later].reason
    assert states[push_id].status == "held"


async def test_already_sent_clientmsgid_counts_as_sent(db: Database, clock: FakeClock, settings: Settings) -> None:
    push_id, _, _ = await _send_with_failure(db, clock, settings, 45065)
    assert (await push_states(db))[push_id].status == "sent"


async def test_retry_too_fast_waits_sixty_seconds(db: Database, clock: FakeClock, settings: Settings) -> None:
    push_id, _, _ = await _send_with_failure(db, clock, settings, 45066)
    push = (await push_states(db))[push_id]
    assert (push.status, push.due_at) == ("pending", clock.now() + timedelta(seconds=60))


@pytest.mark.parametrize("errcode", [47001, 47003, 40037])
async def test_bad_payloads_fail_and_are_never_retried(
    db: Database, clock: FakeClock, settings: Settings, errcode: int
) -> None:
    push_id, _, calls = await _send_with_failure(db, clock, settings, errcode)
    push = (await push_states(db))[push_id]
    assert (push.status, push.errcode, push.finished_at) == ("failed", errcode, clock.now())
    assert calls == 1


@pytest.mark.parametrize("errcode", [48001, 48004, 40164, 89503])
async def test_account_level_refusals_stop_the_api_and_keep_the_push(
    db: Database, clock: FakeClock, settings: Settings, errcode: int
) -> None:
    push_id, _, _ = await _send_with_failure(db, clock, settings, errcode)
    push = (await push_states(db))[push_id]
    assert (push.status, push.due_at) == ("pending", clock.now() + timedelta(hours=1))
    async with db.session() as session:
        pause = (await session.exec(select(ApiPause))).one()
    assert pause.errcode == errcode


async def test_subscription_refused_drops_and_clears_that_consent(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    push_id, fid, _ = await _send_with_failure(db, clock, settings, 43101)
    assert (await push_states(db))[push_id].status == "skipped"
    async with db.session() as session:
        revoked = (await session.exec(select(Consent).where(Consent.purpose == "subscription_notice"))).one()
    assert (revoked.follower_id, revoked.granted) == (fid, False)
