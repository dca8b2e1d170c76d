"""Binding a phone through whole conversations: signed callbacks in, replies out, database checked."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from base.vault import PhoneVault
from identity import messages
from identity.consent import current_consent
from identity.sms.sandbox import SandboxSmsSender
from storage.db import Database
from storage.models.core import AuditEntry, DomainEvent, Profile
from storage.models.identity import FollowerLink, SmsCode
from tests.identity.conftest import Chat, follower_of

PHONE = "13912345678"


def last_code(sms: SandboxSmsSender) -> str:
    return str(sms.recent(1)[0]["code"])


async def test_happy_path_binds_records_consent_and_emits_phone_bound(
    chat: Chat, db: Database, sms: SandboxSmsSender
) -> None:
    assert await chat.say("o-alice", "绑定") == messages.ASK_PHONE
    reply = await chat.say("o-alice", "139 1234 5678")
    assert reply == messages.CODE_SENT.format(masked="139****5678")
    assert sms.recent(1)[0]["to"] == "139****5678"
    reply = await chat.say("o-alice", last_code(sms))
    assert reply.startswith("验证通过：139****5678") and messages.CONSENT_QUESTION in reply
    reply = await chat.say("o-alice", "是")
    assert reply == messages.BOUND.format(masked="139****5678") + messages.CONSENT_YES

    follower = await follower_of(db, "o-alice")
    async with db.session() as session:
        profile = await session.get(Profile, follower.profile_id)
        assert profile is not None and profile.phone_key == PhoneVault().lookup_key("+86" + PHONE)
        link = (await session.exec(select(FollowerLink))).one()
        assert (link.follower_id, link.proof_method, link.unlinked_at) == (follower.id, "sms_code", None)
        audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "identity.linked"))).one()
        assert audit.detail["proof"] == "sms_code" and audit.target == f"follower:{follower.id}"
        event = (await session.exec(select(DomainEvent).where(DomainEvent.kind == "phone_bound"))).one()
        assert (event.follower_id, event.profile_id) == (follower.id, profile.id)
        assert follower.id is not None
        consent = await current_consent(session, follower.id)
        assert consent is not None and consent.granted and consent.text_shown == messages.CONSENT_QUESTION
        # Only a hash of the code is kept.
        code_row = (await session.exec(select(SmsCode))).one()
        assert last_code(sms) not in code_row.code_hash and code_row.used_at is not None
    # The flow is over: the same digits are no longer taken for a code.
    assert await chat.say("o-alice", last_code(sms)) != messages.CODE_FORMAT


async def test_menu_key_starts_binding(chat: Chat) -> None:
    assert await chat.click("o-menu", "BIND_PHONE") == messages.ASK_PHONE


async def test_numbers_that_cannot_key_a_profile_get_a_clear_reply(chat: Chat) -> None:
    await chat.say("o-bob", "绑定")
    assert await chat.say("o-bob", "139****5678") == messages.PHONE_MASKED
    assert await chat.say("o-bob", "13912345678-1234") == messages.PHONE_VIRTUAL
    assert await chat.say("o-bob", "010-62345678") == messages.PHONE_LANDLINE
    assert await chat.say("o-bob", "12345") == messages.PHONE_INVALID
    # Still asking for the phone: a good number now works.
    assert await chat.say("o-bob", "+86 139-1234-5678") == messages.CODE_SENT.format(masked="139****5678")


async def test_wrong_code_counts_down_then_the_code_is_dead(chat: Chat, sms: SandboxSmsSender) -> None:
    await chat.say("o-carol", "绑定")
    await chat.say("o-carol", PHONE)
    good = last_code(sms)
    wrong = "000000" if good != "000000" else "111111"
    for left in (4, 3, 2, 1):
        assert await chat.say("o-carol", wrong) == messages.CODE_WRONG.format(left=left)
    assert await chat.say("o-carol", wrong) == messages.CODE_EXHAUSTED
    # Five wrong tries burn the code: even the right one is refused now.
    assert await chat.say("o-carol", good) == messages.CODE_EXHAUSTED
    assert await chat.say("o-carol", "abc") == messages.CODE_FORMAT
    chat.clock.advance(minutes=1)
    assert await chat.say("o-carol", "重发") == messages.CODE_SENT.format(masked="139****5678")
    assert (await chat.say("o-carol", last_code(sms))).startswith("验证通过")


async def test_expired_code_is_refused(chat: Chat, sms: SandboxSmsSender) -> None:
    await chat.say("o-dan", "绑定")
    await chat.say("o-dan", PHONE)
    chat.clock.advance(minutes=5, seconds=1)
    assert await chat.say("o-dan", last_code(sms)) == messages.CODE_EXPIRED


async def test_sending_is_limited_per_follower_and_per_phone(chat: Chat, sms: SandboxSmsSender) -> None:
    await chat.say("o-erin", "绑定")
    await chat.say("o-erin", PHONE)
    assert await chat.say("o-erin", "重发") == messages.CODE_WAIT.format(seconds=60)
    chat.clock.advance(seconds=30)
    assert await chat.say("o-erin", "重发") == messages.CODE_WAIT.format(seconds=30)
    # Another follower asking for the same phone within the minute is limited too.
    await chat.say("o-frank", "绑定")
    assert await chat.say("o-frank", PHONE) == messages.CODE_WAIT.format(seconds=30)
    for _ in range(4):
        chat.clock.advance(minutes=1)
        assert await chat.say("o-erin", "重发") == messages.CODE_SENT.format(masked="139****5678")
    chat.clock.advance(minutes=1)
    assert await chat.say("o-erin", "重发") == messages.CODE_DAILY_LIMIT
    assert len(sms.recent(50)) == 5
    # A new China day brings a new quota.
    chat.clock.advance(timedelta(days=1))
    assert await chat.say("o-erin", "绑定") == messages.ASK_PHONE
    assert await chat.say("o-erin", PHONE) == messages.CODE_SENT.format(masked="139****5678")


async def test_cancel_leaves_at_any_step(chat: Chat, sms: SandboxSmsSender) -> None:
    await chat.say("o-gina", "绑定")
    assert await chat.say("o-gina", "取消") == messages.CANCELLED
    await chat.say("o-gina", "绑定")
    await chat.say("o-gina", PHONE)
    assert await chat.say("o-gina", "取消") == messages.CANCELLED
    assert await chat.say("o-gina", last_code(sms)) != messages.CODE_WRONG.format(left=4)
    assert "验证通过" not in await chat.say("o-gina", last_code(sms))


async def test_conversation_times_out_after_ten_minutes(chat: Chat, sms: SandboxSmsSender, db: Database) -> None:
    await chat.say("o-hank", "绑定")
    await chat.say("o-hank", PHONE)
    chat.clock.advance(minutes=10, seconds=1)
    assert await chat.say("o-hank", last_code(sms)) == messages.TIMED_OUT
    # Said once; after that the follower is simply out of the flow.
    assert await chat.say("o-hank", last_code(sms)) != messages.TIMED_OUT
    follower = await follower_of(db, "o-hank")
    assert follower.profile_id is None
