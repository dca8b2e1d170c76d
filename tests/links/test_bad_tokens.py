"""Tokens tampered with, expired or erased answer a clear page; no token can lead anywhere undeclared."""

from __future__ import annotations

from datetime import timedelta

import pytest

from base.clock import FakeClock
from base.link_tokens import LIFETIME_DAYS, LinkClaim, day_number, mint
from base.vault import PhoneVault
from identity.erase import erase_subject
from identity.subjects import find_subject
from storage.db import Database
from tests.links.conftest import PUBLIC, Linked, clicks
from tests.links.test_push_clicks import TARGET, _sent_push

# Clicks are written through the group commit on SQLite and engine transactions elsewhere: both run.
pytestmark = pytest.mark.storage


def _flip(token: str, at: int) -> str:
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]


async def _page(linked: Linked, path: str) -> tuple[int, str]:
    answer = await linked.client.get(path, allow_redirects=False)
    return answer.status, await answer.text()


async def test_a_tampered_token_answers_not_found(linked: Linked, db: Database, clock: FakeClock) -> None:
    _follower, _push, link = await _sent_push(linked, db, clock)
    token = link.removeprefix(PUBLIC + "/l/")
    for bad in (_flip(token, 3), _flip(token, 20), _flip(token, 40), token[:-1], token + "A", "nothing", "%00" * 10):
        status, text = await _page(linked, f"/l/{bad}")
        assert status == 404, bad
        assert "链接无效" in text and "not valid" in text
    assert await clicks(db) == []


async def test_an_old_token_answers_gone(linked: Linked, db: Database, clock: FakeClock) -> None:
    _follower, _push, link = await _sent_push(linked, db, clock)
    clock.advance(timedelta(days=LIFETIME_DAYS - 1))
    assert (await linked.client.get(link.removeprefix(PUBLIC), allow_redirects=False)).status == 302
    clock.advance(timedelta(days=2))
    status, text = await _page(linked, link.removeprefix(PUBLIC))
    assert status == 410 and "已过期" in text and "expired" in text


async def test_the_token_of_an_erased_person_answers_gone(linked: Linked, db: Database, clock: FakeClock) -> None:
    _follower, _push, link = await _sent_push(linked, db, clock)
    assert (await linked.click(link, as_openid="o-reader")).status == 302
    assert len(await clicks(db)) == 1
    async with db.transaction() as session:
        subject = await find_subject(session, PhoneVault(), "o-reader")
        await erase_subject(session, subject, actor="admin:dpo", now=clock.now())
    status, _text = await _page(linked, link.removeprefix(PUBLIC))
    assert status == 410
    assert await clicks(db) == []  # erasure took their clicks


async def test_a_well_signed_token_reaches_only_declared_links(linked: Linked, db: Database, clock: FakeClock) -> None:
    """Even with the key, a token names a link by its index in an immutable version: nothing else."""
    _follower, push_id, link = await _sent_push(linked, db, clock)
    key = linked.tracker._key
    assert key is not None
    day = day_number(clock.now())
    beyond = mint(key, LinkClaim("p", push_id, 0, 1, 5, day))
    assert (await _page(linked, f"/l/{beyond}"))[0] == 404
    missing_version = mint(key, LinkClaim("p", push_id, 0, 999_999, 0, day))
    assert (await _page(linked, f"/l/{missing_version}"))[0] == 404
    answer = await linked.client.get(
        link.removeprefix(PUBLIC) + "?url=https://evil.example/&redirect=https://evil.example/", allow_redirects=False
    )
    assert answer.headers["Location"] == TARGET
