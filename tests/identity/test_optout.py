"""Opt-out withdraws marketing consent at once; `订阅` restores it only after a new yes."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from identity import messages
from identity.consent import has_marketing_consent, record_consent
from storage.db import Database
from storage.models.consent import Consent
from storage.models.core import DomainEvent
from tests.identity.conftest import Chat, follower_of


async def consent_now(db: Database, openid: str) -> bool:
    follower = await follower_of(db, openid)
    assert follower.id is not None
    async with db.session() as session:
        return await has_marketing_consent(session, follower.id)


async def grant(db: Database, chat: Chat, openid: str) -> None:
    await chat.say(openid, "你好")
    follower = await follower_of(db, openid)
    assert follower.id is not None
    async with db.transaction() as session:
        await record_consent(session, follower.id, granted=True, at=chat.clock.now(), text_shown="q", source="binding")


@pytest.mark.parametrize("word", ["TD", "td", "退订", "取消订阅", "Unsubscribe"])
async def test_opt_out_words_withdraw_at_once(chat: Chat, db: Database, word: str) -> None:
    await grant(db, chat, "o-opt")
    assert await consent_now(db, "o-opt")
    assert await chat.say("o-opt", word) == messages.OPTED_OUT
    assert not await consent_now(db, "o-opt")
    async with db.session() as session:
        event = (await session.exec(select(DomainEvent).where(DomainEvent.kind == "consent_withdrawn"))).one()
        latest = (await session.exec(select(Consent).order_by(col(Consent.id).desc()))).first()
    assert event.follower_id == (await follower_of(db, "o-opt")).id and event.payload["purpose"] == "marketing"
    assert latest is not None and latest.text_shown == word and latest.source == "keyword"


async def test_subscribe_asks_then_records_the_words_shown(chat: Chat, db: Database) -> None:
    assert await chat.say("o-sub", "订阅") == messages.SUBSCRIBE_QUESTION
    assert not await consent_now(db, "o-sub")
    assert await chat.say("o-sub", "是") == messages.SUBSCRIBED
    assert await consent_now(db, "o-sub")
    async with db.session() as session:
        latest = (await session.exec(select(Consent).order_by(col(Consent.id).desc()))).first()
    assert latest is not None and latest.text_shown == messages.SUBSCRIBE_QUESTION
    assert await chat.say("o-sub", "订阅") == messages.ALREADY_SUBSCRIBED


async def test_subscribe_declined_or_cancelled_grants_nothing(chat: Chat, db: Database) -> None:
    await chat.say("o-no", "订阅")
    assert await chat.say("o-no", "否") == messages.SUBSCRIBE_DECLINED
    await chat.say("o-no", "订阅")
    assert await chat.say("o-no", "取消") == messages.CANCELLED
    assert await chat.say("o-no", "是") != messages.SUBSCRIBED
    assert not await consent_now(db, "o-no")


async def test_opt_out_mid_binding_still_withdraws(chat: Chat, db: Database) -> None:
    await grant(db, chat, "o-mid")
    await chat.say("o-mid", "绑定")
    assert await chat.say("o-mid", "TD") == messages.OPTED_OUT
    assert not await consent_now(db, "o-mid")
    # The binding itself is still waiting for the phone.
    assert (await chat.say("o-mid", "13912345678")).startswith("验证码已发送")
