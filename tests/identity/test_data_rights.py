"""Export and erase: everything about a person comes out, then every trace of them leaves every table."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select as core_select
from sqlmodel import SQLModel, select

from base.vault import PhoneVault, erasure_hash, mask_phone
from identity.erase import erase_subject, was_erased
from identity.export import export_subject
from identity.sms.sandbox import SandboxSmsSender
from identity.subjects import SubjectNotFound, find_subject
from storage.db import Database
from storage.models.core import AuditEntry, Follower, Profile
from storage.models.identity import Erasure
from storage.models.orders import ImportReject, ImportRun, Order
from storage.models.pushes import Push
from storage.personal_data import is_json, searchable_columns
from tests.identity.conftest import Chat, add_profile_with_orders, follower_of

pytestmark = pytest.mark.storage

E164 = "+8613712345678"
ERASED_VALUES = (
    E164,
    "13712345678",
    mask_phone(E164),
    "o-erase-me",
    "u-erase-me",
    "o-erase-sibling",
    "张三丰",
    "文三路99号",
)
BYSTANDER_VALUES = ("+8613598765432", "o-bystander", "李四", "中山路1号")


async def everything_in_the_database(db: Database) -> list[tuple[str, str, str]]:
    """(table, column, text) for every text and JSON cell of every table the application defines."""
    cells: list[tuple[str, str, str]] = []
    async with db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            columns = searchable_columns(table)
            for row in (await conn.execute(core_select(table))).mappings():
                for column in columns:
                    value = row[column.name]
                    if value is None:
                        continue
                    text = json.dumps(value, ensure_ascii=False) if is_json(column) else str(value)
                    cells.append((table.name, column.name, text))
    return cells


async def build_person(chat: Chat, db: Database, sms: SandboxSmsSender) -> None:
    vault = PhoneVault()
    now = chat.clock.now()
    await add_profile_with_orders(
        db, vault.lookup_key(E164), vault.seal(E164), mask_phone(E164), [("3712345678901234", 19900)], now
    )
    async with db.transaction() as session:
        session.add(
            Follower(
                appid="wxotheraccount0001",
                openid="o-erase-sibling",
                unionid="u-erase-me",
                created_at=now,
                updated_at=now,
            )
        )
        bystander = Profile(
            phone_key="+8613598765432",
            phone_sealed="+8613598765432",
            phone_masked="135****5432",
            name="李四",
            city="广州",
            order_count=1,
            created_at=now,
            updated_at=now,
        )
        session.add(bystander)
        run = ImportRun(file_name="export.csv", content_hash="h", platform="tmall", started_at=now)
        session.add(run)
        await session.flush()
        assert run.id is not None and bystander.id is not None
        session.add(
            Order(
                platform="tmall",
                order_no="9000000000000001",
                status="paid",
                paid_fen=500,
                profile_id=bystander.id,
                receiver_name="李四",
                raw={"收货地址": "中山路1号"},
                created_at=now,
                updated_at=now,
            )
        )
        # A rejected row of an import that still carries the person's number and address.
        session.add(
            ImportReject(
                import_run_id=run.id,
                line_no=7,
                reason="bad_amount",
                cells={"联系手机": "13712345678", "收货地址": "文三路99号", "收货人": "张三丰"},
            )
        )
    await chat.say("o-bystander", "你好")
    await chat.say("o-erase-me", "绑定", unionid="u-erase-me")
    await chat.say("o-erase-me", "13712345678", unionid="u-erase-me")
    # Orders exist, but the person prefers a code by SMS.
    await chat.say("o-erase-me", "短信", unionid="u-erase-me")
    await chat.say("o-erase-me", str(sms.recent(1)[0]["code"]), unionid="u-erase-me")
    assert "绑定成功" in await chat.say("o-erase-me", "是", unionid="u-erase-me")
    # Half-way through a new binding, so conversation state is held too.
    await chat.say("o-erase-me", "绑定", unionid="u-erase-me")
    follower = await follower_of(db, "o-erase-me")
    async with db.transaction() as session:
        assert follower.id is not None
        session.add(
            Push(
                follower_id=follower.id,
                profile_id=follower.profile_id,
                appid=follower.appid,
                openid="o-erase-me",
                template_version_id=1,
                context={"name": "张三丰"},
                due_at=now,
                created_at=now,
            )
        )


async def test_export_holds_everything_about_the_person(chat: Chat, db: Database, sms: SandboxSmsSender) -> None:
    await build_person(chat, db, sms)
    async with db.session() as session:
        subject = await find_subject(session, PhoneVault(), "137 1234 5678")
        by_openid = await find_subject(session, PhoneVault(), "o-erase-sibling")
        document = await export_subject(session, subject, now=chat.clock.now())
    assert by_openid.follower_ids == subject.follower_ids
    assert document["phone"] == E164 and document["profile"]["name"] == "张三丰"
    assert "phone_key" not in document["profile"]
    assert {f["openid"] for f in document["followers"]} == {"o-erase-me", "o-erase-sibling"}
    assert {link["proof_method"] for link in document["links"]} == {"sms_code", "unionid"}
    assert [c["granted"] for c in document["consents"]] == [True]
    assert [o["order_no"] for o in document["orders"]] == ["3712345678901234"]
    # An order stored before cells were kept by position still shows them under their names.
    assert document["orders"][0]["raw"] == [{"收货地址": "浙江省杭州市西湖区文三路99号", "联系手机": "13912345678"}]
    assert document["pushes"][0]["context"] == {"name": "张三丰"}
    assert len(document["inbound_events"]) == 6 and document["inbound_events"][0]["payload"]
    assert {e["kind"] for e in document["domain_events"]} >= {"phone_bound"}
    assert any(a["action"] == "identity.linked" for a in document["audit"])
    assert document["other"]["conversation_states"][0]["flow"] == "bind"
    assert document["other"]["import_rejects"][0]["cells"]["收货人"] == "张三丰"
    assert "李四" not in json.dumps(document, ensure_ascii=False)


async def test_erase_leaves_no_trace_in_any_table(chat: Chat, db: Database, sms: SandboxSmsSender) -> None:
    await build_person(chat, db, sms)
    before = await everything_in_the_database(db)
    assert {v for v in ERASED_VALUES if any(v in text for _t, _c, text in before)} == set(ERASED_VALUES)
    async with db.transaction() as session:
        subject = await find_subject(session, PhoneVault(), "o-erase-me")
        report = await erase_subject(session, subject, actor="admin:dpo", now=chat.clock.now())

    after = await everything_in_the_database(db)
    leftovers = [(table, column, value) for table, column, text in after for value in ERASED_VALUES if value in text]
    assert leftovers == []
    # Other people are untouched.
    for value in BYSTANDER_VALUES:
        assert any(value in text for _t, _c, text in after), value
    async with db.session() as session:
        profile = (await session.exec(select(Profile).where(Profile.erased_at.is_not(None)))).one()  # type: ignore[union-attr]
        orders = (await session.exec(select(Order).where(Order.profile_id == profile.id))).all()
        erasure = (await session.exec(select(Erasure))).one()
        audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "data.erased"))).one()
        followers = (await session.exec(select(Follower).where(Follower.status == "gone"))).all()
        assert await was_erased(session, E164)
    # Anonymous aggregates stay: the order and its money, the followers for channel counts.
    assert [(o.paid_fen, o.status, o.receiver_name, o.raw) for o in orders] == [(19900, "completed", None, [])]
    assert len(followers) == 2 and all(f.unionid is None for f in followers)
    assert erasure.subject_hash == erasure_hash(E164, b"") == report.subject_hash and erasure.actor == "admin:dpo"
    assert audit.target == f"profile:{profile.id}" and audit.detail["erasure_id"] == erasure.id
    # The person is a stranger now: finding them by number or openid finds nothing.
    async with db.session() as session:
        with pytest.raises(SubjectNotFound):
            await find_subject(session, PhoneVault(), E164)
        with pytest.raises(SubjectNotFound):
            await find_subject(session, PhoneVault(), "o-erase-me")


async def test_erase_with_an_encryption_key(chat: Chat, db: Database, sms: SandboxSmsSender) -> None:
    key = bytes(range(32))
    vault = PhoneVault(key)
    now = chat.clock.now()
    await add_profile_with_orders(
        db, vault.lookup_key(E164), vault.seal(E164), mask_phone(E164), [("3712345678901234", 100)], now
    )
    async with db.transaction() as session:
        stored = (await session.exec(select(Profile))).one()
        assert E164 not in stored.phone_sealed and E164 not in stored.phone_key
        subject = await find_subject(session, vault, "13712345678")
        assert subject.e164 == E164
        await erase_subject(session, subject, actor="admin", now=now, data_key=key)
    after = await everything_in_the_database(db)
    assert not [text for _t, _c, text in after if "张三丰" in text or "13712345678" in text]
