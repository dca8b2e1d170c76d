"""Linking rules: re-linking a phone held by another follower, unionid siblings, admin unlink."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from identity import messages
from identity.linking import unlink_follower
from identity.sms.sandbox import SandboxSmsSender
from storage.db import Database
from storage.models.core import AuditEntry, Follower, Profile
from storage.models.identity import FollowerLink
from tests.identity.conftest import Chat, follower_of

PHONE = "13912345678"


async def bind(chat: Chat, sms: SandboxSmsSender, openid: str, *, unionid: str | None = None) -> str:
    await chat.say(openid, "绑定", unionid=unionid)
    await chat.say(openid, PHONE, unionid=unionid)
    await chat.say(openid, str(sms.recent(1)[0]["code"]), unionid=unionid)
    return await chat.say(openid, "是", unionid=unionid)


async def test_phone_held_by_another_follower_moves_only_after_proof(
    chat: Chat, db: Database, sms: SandboxSmsSender
) -> None:
    await bind(chat, sms, "o-old")
    chat.clock.advance(minutes=2)
    await chat.say("o-new", "绑定")
    notice = await chat.say("o-new", PHONE)
    assert notice.startswith(messages.HELD_BY_OTHER)
    # Before proof nothing moved.
    assert (await follower_of(db, "o-old")).profile_id is not None
    assert (await follower_of(db, "o-new")).profile_id is None
    await chat.say("o-new", str(sms.recent(1)[0]["code"]))
    assert messages.MOVED_FROM_OTHER in await chat.say("o-new", "是")

    old, new = await follower_of(db, "o-old"), await follower_of(db, "o-new")
    assert old.profile_id is None and new.profile_id is not None
    async with db.session() as session:
        links = (await session.exec(select(FollowerLink).order_by(col(FollowerLink.id)))).all()
        assert [(link.follower_id, link.unlinked_at is None) for link in links] == [(old.id, False), (new.id, True)]
        moved = (await session.exec(select(AuditEntry).where(AuditEntry.action == "identity.relinked_away"))).one()
        assert moved.target == f"follower:{old.id}" and moved.detail["proof"] == "sms_code"


async def test_unionid_links_the_brands_other_accounts(chat: Chat, db: Database, sms: SandboxSmsSender) -> None:
    now = chat.clock.now()
    async with db.transaction() as session:
        session.add(
            Follower(appid="wxotheraccount0001", openid="o-mini", unionid="u-same", created_at=now, updated_at=now)
        )
        session.add(
            Follower(
                appid="wxotheraccount0002", openid="o-elsewhere", unionid="u-other", created_at=now, updated_at=now
            )
        )
    await bind(chat, sms, "o-main", unionid="u-same")
    main = await follower_of(db, "o-main")
    sibling = await follower_of(db, "o-mini")
    assert main.unionid == "u-same" and sibling.profile_id == main.profile_id is not None
    assert (await follower_of(db, "o-elsewhere")).profile_id is None
    async with db.session() as session:
        link = (await session.exec(select(FollowerLink).where(FollowerLink.follower_id == sibling.id))).one()
        assert (link.proof_method, link.actor) == ("unionid", "system:unionid")
        audited = (await session.exec(select(AuditEntry).where(AuditEntry.target == f"follower:{sibling.id}"))).one()
        assert audited.action == "identity.linked" and audited.detail["proof"] == "unionid"


async def test_admin_unlink_keeps_history_and_audits(chat: Chat, db: Database, sms: SandboxSmsSender) -> None:
    await bind(chat, sms, "o-merged")
    chat.clock.advance(timedelta(hours=1))
    async with db.transaction() as session:
        follower = (await session.exec(select(Follower).where(Follower.openid == "o-merged"))).one()
        profile_id = follower.profile_id
        detached = await unlink_follower(
            session, follower, actor="admin:lee", reason="wrong person", now=chat.clock.now()
        )
        assert detached == profile_id is not None
        # Unlinking twice is a no-op, not an error.
        assert await unlink_follower(session, follower, actor="admin:lee", reason="again", now=chat.clock.now()) is None
    async with db.session() as session:
        link = (await session.exec(select(FollowerLink))).one()
        assert link.unlinked_at == chat.clock.now() and link.unlinked_by == "admin:lee"
        assert link.unlink_reason == "wrong person" and link.profile_id == profile_id
        entry = (await session.exec(select(AuditEntry).where(AuditEntry.action == "identity.unlinked"))).one()
        assert entry.actor == "admin:lee" and entry.detail["profile_id"] == profile_id
    assert (await follower_of(db, "o-merged")).profile_id is None


async def test_a_new_follower_joins_the_profile_its_unionid_already_has(chat: Chat, db: Database) -> None:
    """The brand's other account already knows this person: their first message here links them."""
    now = chat.clock.now()
    async with db.transaction() as session:
        profile = Profile(phone_key="+8613900001111", phone_sealed="+8613900001111", created_at=now, updated_at=now)
        session.add(profile)
        await session.flush()
        session.add(
            Follower(
                appid="wxotheraccount0003",
                openid="o-known",
                unionid="u-known",
                profile_id=profile.id,
                created_at=now,
                updated_at=now,
            )
        )
    await chat.say("o-arrives", "你好", unionid="u-known")
    arrived = await follower_of(db, "o-arrives")
    assert arrived.profile_id == profile.id
    await chat.say("o-stranger", "你好", unionid="u-unknown")
    assert (await follower_of(db, "o-stranger")).profile_id is None
