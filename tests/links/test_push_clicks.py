"""Tracked links in pushes, end to end: the dispatcher sends tracked links, a click is recorded once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from base.clock import FakeClock
from identity.consent import record_consent
from storage.db import Database
from tests.journeys.helpers import add_follower, add_push, add_template
from tests.links.conftest import DESKTOP, PUBLIC, Linked, click_events, clicks

# Clicks are written through the group commit on SQLite and engine transactions elsewhere: both run.
pytestmark = pytest.mark.storage

TARGET = "https://shop.example.cn/serum"
OTHER = "https://other.example.cn/"
BODY = {
    "kind": "text",
    "purpose": "marketing",
    "links": [TARGET],
    "content": f"新品上市：{TARGET}。也看看 {OTHER}",
}
_LINK = re.compile(re.escape(PUBLIC) + r"/l/[A-Za-z0-9_-]+")


async def _sent_push(linked: Linked, db: Database, clock: FakeClock, openid: str = "o-reader") -> tuple[int, int, str]:
    """A push of BODY sent to a new consenting follower: (follower id, push id, its tracked link)."""
    follower_id = await add_follower(db, clock, openid)
    version = await add_template(db, clock, f"serum-{openid}", dict(BODY))
    push_id = await add_push(db, clock, follower_id, version, journey_id=7, step_key="serum_day3")
    await linked.dispatcher.drain()
    sent: Any = linked.fake.sent_to(openid)[-1].json
    content = sent["text"]["content"]
    links = _LINK.findall(content)
    assert len(links) == 1, content
    return follower_id, push_id, links[0]


async def test_the_declared_link_is_tracked_and_others_go_out_as_written(
    linked: Linked, db: Database, clock: FakeClock
) -> None:
    _follower, _push, link = await _sent_push(linked, db, clock)
    content = linked.fake.sent_to("o-reader")[-1].json["text"]["content"]  # type: ignore[index]
    assert TARGET not in content  # only reachable through the tracked link
    assert OTHER in content  # not declared: untracked, as written
    assert content.startswith("新品上市：" + link + "。")


async def test_a_click_in_wechat_records_the_follower_step_and_link_once(
    linked: Linked, db: Database, clock: FakeClock
) -> None:
    follower_id, push_id, link = await _sent_push(linked, db, clock)
    first = await linked.click(link, as_openid="o-reader")
    assert (first.status, first.headers["Location"]) == (302, TARGET)
    again = await linked.click(link, as_openid="o-reader")
    assert (again.status, again.headers["Location"]) == (302, TARGET)
    [row] = await clicks(db)
    assert (row.delivery_kind, row.delivery_id, row.follower_id, row.journey_id, row.step_key) == (
        "push", push_id, follower_id, 7, "serum_day3",
    )  # fmt: skip
    assert (row.link_index, row.target, row.via, row.forwarded, row.visitor) == (
        0, TARGET, "authorized", False, f"f:{follower_id}",
    )  # fmt: skip
    assert row.clicked_at == clock.now()
    [event] = await click_events(db)
    assert event.follower_id == follower_id
    assert event.payload["journey_id"] == 7 and event.payload["step"] == "serum_day3"
    assert (event.payload["link"], event.payload["target"], event.payload["delivery_id"]) == (0, TARGET, push_id)
    assert linked.fake.web_auth.exchanges == 2


async def test_previews_prefetchers_and_head_requests_are_not_counted(
    linked: Linked, db: Database, clock: FakeClock
) -> None:
    _follower, _push, link = await _sent_push(linked, db, clock)
    path = link.removeprefix(PUBLIC)
    head = await linked.client.head(path, allow_redirects=False)
    assert (head.status, head.headers["Location"]) == (302, TARGET)
    for headers in (
        {"User-Agent": "facebookexternalhit/1.1"},
        {"User-Agent": "Mozilla/5.0 (compatible; bingbot/2.0)"},
        {"User-Agent": "TelegramBot (like TwitterBot)"},
        {"User-Agent": DESKTOP, "Sec-Purpose": "prefetch;prerender"},
        {"User-Agent": DESKTOP, "Purpose": "prefetch"},
    ):
        answer = await linked.client.get(path, allow_redirects=False, headers=headers)
        assert (answer.status, answer.headers["Location"]) == (302, TARGET), headers
    assert await clicks(db) == []
    assert linked.fake.web_auth.exchanges == 0


async def test_a_browser_outside_wechat_is_counted_by_its_cookie_never_as_the_recipient(
    linked: Linked, db: Database, clock: FakeClock
) -> None:
    _follower, _push, link = await _sent_push(linked, db, clock)
    for _ in range(3):  # the test client keeps the cookie, like a browser
        answer = await linked.click(link, ua=DESKTOP)
        assert (answer.status, answer.headers["Location"]) == (302, TARGET)
    [row] = await clicks(db)
    assert (row.follower_id, row.profile_id, row.via, row.forwarded) == (None, None, "browser", False)
    assert row.visitor is not None and row.visitor.startswith("c:")
    assert await click_events(db) == []


async def test_a_forwarded_link_counts_for_who_opened_it(linked: Linked, db: Database, clock: FakeClock) -> None:
    recipient, _push, link = await _sent_push(linked, db, clock)
    friend = await add_follower(db, clock, "o-friend")
    answer = await linked.click(link, as_openid="o-friend")
    assert (answer.status, answer.headers["Location"]) == (302, TARGET)
    linked.client.session.cookie_jar.clear()
    stranger = await linked.click(link, as_openid="o-not-a-follower")
    assert stranger.status == 302
    rows = await clicks(db)
    assert [(r.follower_id, r.via, r.forwarded) for r in rows] == [
        (friend, "authorized", True),
        (None, "browser", False),
    ]
    assert all(r.follower_id != recipient for r in rows)
    [event] = await click_events(db)
    assert event.follower_id == friend and event.payload["forwarded"] is True


async def test_a_refused_authorization_code_credits_nobody(linked: Linked, db: Database, clock: FakeClock) -> None:
    recipient, _push, link = await _sent_push(linked, db, clock)
    answer = await linked.client.get(
        link.removeprefix(PUBLIC) + "?code=made-up&state=l", allow_redirects=False, headers={"User-Agent": DESKTOP}
    )
    assert (answer.status, answer.headers["Location"]) == (302, TARGET)
    [row] = await clicks(db)
    assert (row.follower_id, row.via) == (None, "browser")
    assert recipient != row.follower_id


async def test_withdrawn_consent_redirects_without_recording_who(
    linked: Linked, db: Database, clock: FakeClock
) -> None:
    follower_id, _push, link = await _sent_push(linked, db, clock)
    async with db.transaction() as session:
        await record_consent(session, follower_id, granted=False, at=clock.now(), text_shown="TD", source="keyword")
    clock.advance(timedelta(minutes=1))
    for _ in range(2):
        answer = await linked.click(link, as_openid="o-reader")
        assert (answer.status, answer.headers["Location"]) == (302, TARGET)
    rows = await clicks(db)
    assert [(r.follower_id, r.profile_id, r.visitor, r.via) for r in rows] == [(None, None, None, "untracked")] * 2
    assert await click_events(db) == []
