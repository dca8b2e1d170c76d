"""Weak identity review, the identity commands, and the clear-text warning."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pytest
from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from base.vault import PhoneVault, mask_phone
from identity.review import CandidateError, confirm_candidate, find_candidates, list_candidates, reject_candidate
from identity.services import warn_if_unencrypted
from scrm.cli.identity import erase_command, export_command, review_command, unlink_command
from scrm.cli.main import UsageError, build_parser
from storage.db import Database
from storage.models.core import AuditEntry, Follower
from storage.models.identity import IdentityCandidate
from storage.models.orders import Order
from tests.identity.conftest import add_profile_with_orders

pytestmark = pytest.mark.storage

E164 = "+8613712345678"


async def masked_order(db: Database, clock: FakeClock, *, name: str, city: str, hint: str, kind: str) -> int:
    now = clock.now()
    async with db.transaction() as session:
        order = Order(
            platform="jd",
            order_no=f"JD{hint}{name}{city}",
            status="completed",
            paid_fen=990,
            phone_hint=hint,
            hint_kind=kind,
            hint_last4=hint[-4:],
            receiver_name=name,
            receiver_city=city,
            created_at=now,
            updated_at=now,
        )
        session.add(order)
        await session.flush()
        assert order.id is not None
        return order.id


async def seed(db: Database, clock: FakeClock) -> tuple[int, int, int]:
    vault = PhoneVault()
    profile_id = await add_profile_with_orders(
        db, vault.lookup_key(E164), vault.seal(E164), mask_phone(E164), [("3712345678901234", 100)], clock.now()
    )
    matching = await masked_order(db, clock, name="张三丰", city="杭州", hint="1******5678", kind="masked")
    other_city = await masked_order(db, clock, name="张三丰", city="北京", hint="1******5678", kind="masked")
    await masked_order(db, clock, name="王五", city="杭州", hint="1******5678", kind="masked")
    return profile_id, matching, other_city


async def test_candidates_need_last4_name_and_city_and_never_merge_alone(db: Database, clock: FakeClock) -> None:
    profile_id, matching, _ = await seed(db, clock)
    async with db.transaction() as session:
        assert await find_candidates(session, now=clock.now()) == 1
        assert await find_candidates(session, now=clock.now()) == 0
        (view,) = await list_candidates(session)
        order = await session.get(Order, matching)
        assert order is not None and order.profile_id is None
    assert (view.order_id, view.profile_id, view.profile_phone) == (matching, profile_id, "137****5678")


async def test_confirm_links_the_order_and_is_audited(db: Database, clock: FakeClock) -> None:
    profile_id, matching, _ = await seed(db, clock)
    async with db.transaction() as session:
        await find_candidates(session, now=clock.now())
        (view,) = await list_candidates(session)
        assert await confirm_candidate(session, view.id, actor="admin:wu", now=clock.now()) == profile_id
        with pytest.raises(CandidateError, match="already confirmed"):
            await reject_candidate(session, view.id, actor="admin:wu", now=clock.now())
    async with db.session() as session:
        order = await session.get(Order, matching)
        entry = (
            await session.exec(select(AuditEntry).where(AuditEntry.action == "identity.weak_match_confirmed"))
        ).one()
        assert await list_candidates(session) == []
    assert order is not None and order.profile_id == profile_id
    assert entry.actor == "admin:wu" and entry.target == f"order:{matching}" and entry.detail["proof"] == "admin_review"


async def test_review_command_lists_confirms_and_rejects(
    db: Database, clock: FakeClock, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(db, clock)
    parser = build_parser()
    assert await review_command(db, settings, parser.parse_args(["identities", "review"])) == 0
    assert "1 new candidate(s); 1 listed" in capsys.readouterr().out
    async with db.session() as session:
        candidate = (await session.exec(select(IdentityCandidate))).one()
    args = parser.parse_args(["identities", "review", "--reject", str(candidate.id), "--actor", "admin:wu"])
    assert await review_command(db, settings, args) == 0
    with pytest.raises(UsageError, match="already rejected"):
        await review_command(db, settings, args)
    with pytest.raises(UsageError, match="no candidate 999"):
        await review_command(db, settings, parser.parse_args(["identities", "review", "--confirm", "999"]))


async def test_export_erase_and_unlink_commands(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vault = PhoneVault()
    profile_id = await add_profile_with_orders(
        db, vault.lookup_key(E164), vault.seal(E164), mask_phone(E164), [("3712345678901234", 100)], clock.now()
    )
    async with db.transaction() as session:
        session.add(
            Follower(
                appid=settings.wechat_appid,
                openid="o-cli",
                profile_id=profile_id,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
    parser = build_parser()
    out = tmp_path / "export.json"
    assert (
        await export_command(db, settings, parser.parse_args(["profiles", "export", "13712345678", "--out", str(out)]))
        == 0
    )
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert exported["phone"] == E164 and exported["followers"][0]["openid"] == "o-cli"
    with pytest.raises(UsageError, match="no profile holds"):
        await export_command(db, settings, parser.parse_args(["profiles", "export", "13900000000"]))
    with pytest.raises(UsageError, match="masked"):
        await export_command(db, settings, parser.parse_args(["profiles", "export", "137****5678"]))

    assert await unlink_command(db, settings, parser.parse_args(["identities", "unlink", "o-cli", "--actor", "a"])) == 0
    assert "unlinked" in capsys.readouterr().out
    with pytest.raises(UsageError, match="no follower o-nobody"):
        await unlink_command(db, settings, parser.parse_args(["identities", "unlink", "o-nobody"]))

    with pytest.raises(UsageError, match="--yes"):
        await erase_command(db, settings, parser.parse_args(["profiles", "erase", "13712345678"]))
    assert await erase_command(db, settings, parser.parse_args(["profiles", "erase", "13712345678", "--yes"])) == 0
    printed = capsys.readouterr().out
    assert "erasure 1 recorded" in printed and "13712345678" not in printed
    with pytest.raises(UsageError, match="no profile holds"):
        await erase_command(db, settings, parser.parse_args(["profiles", "erase", "13712345678", "--yes"]))


def test_clear_text_warning_is_said_once(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import identity.services

    monkeypatch.setattr(identity.services, "_warned", False)
    log = logging.getLogger("tests.warn")
    with caplog.at_level(logging.WARNING, logger="tests.warn"):
        assert warn_if_unencrypted(Settings(), log)
        assert not warn_if_unencrypted(Settings(), log)
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "SCRM_DATA_KEY is not set" in caplog.records[0].message
    assert not warn_if_unencrypted(Settings(data_key=bytes(32)), log)


def test_parser_knows_the_commands() -> None:
    args = build_parser().parse_args(["profiles", "erase", "o-x", "--appid", "wx1", "--yes"])
    assert isinstance(args, argparse.Namespace) and args.who == "o-x" and args.appid == "wx1" and callable(args.run)
