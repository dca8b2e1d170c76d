"""The shared access token: one fetch for every process, early refresh, one retry, no loop on a wrong secret."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import timedelta

import pytest

from base.clock import FakeClock
from base.settings import Settings
from sandbox.fake_wechat import FakeWeChat
from storage import tokens as token_store
from storage.db import Database
from storage.models.core import Account
from tests.wechat_api.conftest import APPID, SECRET
from wechat.api import CredentialsRejected, Reaction, UnknownAccount, WeChatAPI, WeChatAPIError
from wechat.api.credentials import AccountCredentials, StaticCredentials
from wechat.api.errors import TokenUnavailable
from wechat.api.token import TokenManager, http_token_fetcher, refresh_due
from wechat.api.transport import Transport

pytestmark = pytest.mark.storage

# Other accounts of the deployment, unique per run like APPID.
SECOND, BROKEN, NO_SECRET = ("wx" + secrets.token_hex(8) for _ in range(3))
TEXT = {"touser": "o-alice", "msgtype": "text", "text": {"content": "hello"}}


def test_refresh_is_due_five_minutes_before_expiry() -> None:
    fetched = FakeClock().now()
    expires = fetched + timedelta(seconds=7200)
    assert refresh_due(expires, fetched, timedelta(minutes=5)) == expires - timedelta(minutes=5)


def test_a_nearly_expired_token_is_due_halfway_not_at_once() -> None:
    # The stable endpoint may hand back a token with 4 minutes left: refetching at once would loop.
    fetched = FakeClock().now()
    expires = fetched + timedelta(minutes=4)
    assert refresh_due(expires, fetched, timedelta(minutes=5)) == fetched + timedelta(minutes=2)


async def test_token_is_fetched_once_and_reused(api: WeChatAPI, fake: FakeWeChat) -> None:
    for _ in range(5):
        await api.send_custom_message(APPID, TEXT)
    [fetch] = fake.token_fetches
    assert fetch.api == "stable_token"
    assert fetch.json is not None and fetch.json["force_refresh"] is False


async def test_token_is_refreshed_early(api: WeChatAPI, fake: FakeWeChat, clock: FakeClock) -> None:
    first = await api.tokens.get_token(APPID)
    clock.advance(seconds=7200 - 6 * 60)  # 6 minutes left: still used as is
    assert await api.tokens.get_token(APPID) == first
    clock.advance(seconds=90)  # 4.5 minutes left: replaced before it expires
    second = await api.tokens.get_token(APPID)
    assert second != first
    assert len(fake.token_fetches) == 2
    await api.send_custom_message(APPID, TEXT)


async def test_a_second_process_uses_the_stored_token(
    api: WeChatAPI, api_settings: Settings, db_url: str, clock: FakeClock, fake: FakeWeChat
) -> None:
    await api.send_custom_message(APPID, TEXT)
    other_db = Database(db_url)
    try:
        async with WeChatAPI(api_settings, other_db, clock) as other:
            await other.send_custom_message(APPID, TEXT)
    finally:
        await other_db.dispose()
    assert len(fake.token_fetches) == 1


@pytest.mark.concurrency
async def test_concurrent_refresh_by_two_processes_fetches_once(
    db: Database, api_settings: Settings, db_url: str, clock: FakeClock, fake: FakeWeChat
) -> None:
    fake.set_latency(0.2, api="stable_token")  # both processes get to ask while the fetch is under way
    db_a, db_b = Database(db_url), Database(db_url)
    try:
        async with WeChatAPI(api_settings, db_a, clock) as a, WeChatAPI(api_settings, db_b, clock) as b:
            tokens = await asyncio.gather(*(client.tokens.get_token(APPID) for client in (a, b, a, b, a, b)))
    finally:
        await db_a.dispose()
        await db_b.dispose()
    assert len(set(tokens)) == 1
    assert len(fake.token_fetches) == 1
    stored = await token_store.read_token(db, APPID)
    assert stored is not None and stored.token == tokens[0] and stored.lease_owner is None


async def test_invalid_token_is_refreshed_and_the_call_retried_once(api: WeChatAPI, fake: FakeWeChat) -> None:
    await api.tokens.get_token(APPID)
    fake.revoke_tokens(APPID)  # the token leaked and was reset
    await api.send_custom_message(APPID, TEXT)
    assert len(fake.token_fetches) == 2
    sends = fake.sent_to("o-alice", include_failed=True)
    assert [call.errcode for call in sends] == [40001, 0]


async def test_token_refused_twice_is_not_retried_again(api: WeChatAPI, fake: FakeWeChat) -> None:
    fake.fail("message/custom/send", errcode=42001, times=2)
    with pytest.raises(WeChatAPIError) as caught:
        await api.send_custom_message(APPID, TEXT)
    assert caught.value.reaction is Reaction.TOKEN
    assert len(fake.calls_to("message/custom/send")) == 2


async def test_when_wechat_keeps_the_refused_token_a_forced_refresh_replaces_it(
    api: WeChatAPI, fake: FakeWeChat
) -> None:
    first = await api.tokens.get_token(APPID)
    fake.fail("message/custom/send", errcode=40001)  # refused, though the stable endpoint still hands it out
    await api.send_custom_message(APPID, TEXT)
    forced = [call.json["force_refresh"] for call in fake.token_fetches if call.json is not None]
    assert forced == [False, False, True]
    assert await api.tokens.get_token(APPID) != first


async def test_stale_process_does_not_discard_the_new_token(
    api: WeChatAPI, api_settings: Settings, db: Database, db_url: str, clock: FakeClock, fake: FakeWeChat
) -> None:
    other_db = Database(db_url)
    try:
        async with WeChatAPI(api_settings, other_db, clock) as other:
            await other.tokens.get_token(APPID)  # both processes now hold the same token in memory
            await api.tokens.get_token(APPID)
            fake.revoke_tokens(APPID)
            await api.send_custom_message(APPID, TEXT)  # refreshes: the new token is stored
            renewed = await token_store.read_token(db, APPID)
            await other.send_custom_message(APPID, TEXT)  # its old token fails; it must adopt, not refetch
    finally:
        await other_db.dispose()
    assert len(fake.token_fetches) == 2
    stored = await token_store.read_token(db, APPID)
    assert renewed is not None and stored is not None
    assert stored.token == renewed.token and stored.usable_at(clock.now())


async def test_wrong_secret_alerts_and_does_not_loop(
    settings: Settings, db: Database, clock: FakeClock, fake: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = settings.with_overrides(wechat_api_base=fake.base_url, wechat_appid=APPID, wechat_appsecret="x")
    caplog.set_level(logging.ERROR, logger="wechat.api")
    async with WeChatAPI(wrong, db, clock) as client:
        for _ in range(3):
            with pytest.raises(CredentialsRejected) as caught:
                await client.send_custom_message(APPID, TEXT)
        assert caught.value.reaction is Reaction.STOP_ALERT_ADMIN and not caught.value.retryable
        assert "check the appsecret" in str(caught.value)
        assert len(fake.token_fetches) == 1  # later calls fail at once, without asking WeChat again
        assert fake.calls_to("message/custom/send") == []
        assert any("rejected the credentials" in record.getMessage() for record in caplog.records)
        stored = await token_store.read_token(db, APPID)
        assert stored is not None and stored.lease_owner is None  # the lease was given back
        clock.advance(minutes=2)  # after the cool-down it tries again (the admin may have fixed it)
        with pytest.raises(CredentialsRejected):
            await client.tokens.get_token(APPID)
    assert len(fake.token_fetches) == 2


async def test_classic_token_endpoint_when_configured(
    api_settings: Settings, db: Database, clock: FakeClock, fake: FakeWeChat
) -> None:
    async with WeChatAPI(api_settings, db, clock, classic_token_api=True) as client:
        await client.send_custom_message(APPID, TEXT)
    assert [call.api for call in fake.token_fetches] == ["token"]


async def test_accounts_table_supplies_other_accounts(
    api: WeChatAPI, db: Database, clock: FakeClock, fake: FakeWeChat
) -> None:
    fake.add_account(SECOND, "s2")
    fake.add_account(BROKEN, "right")
    async with db.session() as session:
        session.add(Account(appid=SECOND, appsecret="s2", created_at=clock.now()))
        session.add(Account(appid=BROKEN, appsecret="wrong", created_at=clock.now()))
        session.add(Account(appid=NO_SECRET, created_at=clock.now()))
        await session.commit()
    outcomes = await api.tokens.refresh_tokens()
    ours = [appid for appid in outcomes if appid in (APPID, SECOND, BROKEN, NO_SECRET)]
    assert ours == [APPID, SECOND, BROKEN]  # default first; no appsecret, no refresh
    assert outcomes[APPID].startswith("valid until")
    assert outcomes[SECOND].startswith("valid until")
    assert outcomes[BROKEN].startswith("error")
    with pytest.raises(UnknownAccount, match="appsecret"):
        await api.tokens.get_token(NO_SECRET)


async def test_check_connection_reports_the_token(api: WeChatAPI, fake: FakeWeChat) -> None:
    report = await api.check_connection(APPID)
    assert report["token_ok"] is True and report["api_base"] == fake.base_url
    assert report["token_valid_until"]


def _manager(db: Database, clock: FakeClock, fake: FakeWeChat, transport: Transport) -> TokenManager:
    return TokenManager(
        db,
        clock,
        StaticCredentials(AccountCredentials(APPID, SECRET)),
        http_token_fetcher(transport),
        wait_limit=0.2,
        poll_interval=0.02,
    )


async def test_an_abandoned_lease_is_taken_over(db: Database, clock: FakeClock, fake: FakeWeChat) -> None:
    await token_store.take_lease(db, APPID, "crashed-process", clock.now(), timedelta(seconds=30))
    transport = Transport(fake.base_url)
    try:
        manager = _manager(db, clock, fake, transport)
        with pytest.raises(TokenUnavailable):
            await manager.get_token(APPID)  # the lease is live and no token exists: give up, retry later
        assert fake.token_fetches == []
        clock.advance(seconds=31)
        assert await manager.get_token(APPID)
    finally:
        await transport.close()
    assert len(fake.token_fetches) == 1


async def test_old_token_is_used_while_another_process_refreshes(
    db: Database, clock: FakeClock, fake: FakeWeChat
) -> None:
    transport = Transport(fake.base_url)
    try:
        manager = _manager(db, clock, fake, transport)
        token = await manager.get_token(APPID)
        clock.advance(seconds=7200 - 60)  # due for refresh, still valid for a minute
        await token_store.take_lease(db, APPID, "busy-refresher", clock.now(), timedelta(seconds=30))
        assert await manager.get_token(APPID) == token
    finally:
        await transport.close()
    assert len(fake.token_fetches) == 1
