"""Binding with no SMS provider: the order question proves the phone."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from base.clock import FakeClock
from base.vault import PhoneVault, mask_phone
from identity import messages
from identity.consent import current_consent
from identity.sms.sandbox import SandboxSmsSender
from storage.db import Database
from storage.models.identity import FollowerLink
from tests.identity.conftest import Chat, add_profile_with_orders, follower_of

E164 = "+8613712345678"


@pytest.fixture
def sms(clock: FakeClock) -> SandboxSmsSender:
    # A production install without an SMS provider: the sandbox delivers nothing.
    return SandboxSmsSender(clock, logging.getLogger("tests.sms"), reveal=False)


async def _profile(db: Database, clock: FakeClock, orders: list[tuple[str, int]]) -> int:
    vault = PhoneVault()
    return await add_profile_with_orders(
        db, vault.lookup_key(E164), vault.seal(E164), mask_phone(E164), orders, clock.now()
    )


async def test_order_number_question_binds_without_sms(chat: Chat, db: Database, clock: FakeClock) -> None:
    profile_id = await _profile(db, clock, [("3712345678901234", 19900), ("3798765432105555", 5000)])
    await chat.say("o-ivy", "绑定")
    question = await chat.say("o-ivy", "13712345678")
    assert "天猫" in question and "后4位" in question and "短信" not in question
    assert await chat.say("o-ivy", "9999") == messages.ORDER_WRONG.format(left=2)
    # Any of the buyer's order numbers will do.
    reply = await chat.say("o-ivy", "1234")
    assert reply.startswith("验证通过：137****5678")
    reply = await chat.say("o-ivy", "否")
    assert reply == messages.BOUND.format(masked="137****5678") + messages.CONSENT_NO

    follower = await follower_of(db, "o-ivy")
    assert follower.profile_id == profile_id
    async with db.session() as session:
        link = (await session.exec(select(FollowerLink))).one()
        assert link.proof_method == "order_question"
        assert follower.id is not None
        consent = await current_consent(session, follower.id)
        assert consent is not None and not consent.granted and consent.text_shown == messages.CONSENT_QUESTION


async def test_three_wrong_answers_end_the_flow_and_count_for_the_day(
    chat: Chat, db: Database, clock: FakeClock
) -> None:
    await _profile(db, clock, [("3712345678901234", 19900)])
    await chat.say("o-jack", "绑定")
    await chat.say("o-jack", "13712345678")
    await chat.say("o-jack", "0000")
    await chat.say("o-jack", "0001")
    assert await chat.say("o-jack", "0002") == messages.ORDER_FAILED
    await chat.say("o-jack", "绑定")
    await chat.say("o-jack", "13712345678")
    await chat.say("o-jack", "0003")
    await chat.say("o-jack", "0004")
    # Five wrong answers today: restarting no longer buys guesses, and there is no SMS to fall back on.
    await chat.say("o-jack", "绑定")
    assert await chat.say("o-jack", "13712345678") == messages.NO_PROOF_AVAILABLE
    assert (await follower_of(db, "o-jack")).profile_id is None


async def test_amount_question_when_order_numbers_are_short(chat: Chat, db: Database, clock: FakeClock) -> None:
    await _profile(db, clock, [("A12", 12345)])
    await chat.say("o-kate", "绑定")
    assert "实付金额" in await chat.say("o-kate", "13712345678")
    assert (await chat.say("o-kate", "¥123.45")).startswith("验证通过")


async def test_no_orders_and_no_sms_says_so(chat: Chat) -> None:
    await chat.say("o-liam", "绑定")
    assert await chat.say("o-liam", "13712345678") == messages.NO_PROOF_AVAILABLE
