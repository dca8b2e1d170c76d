"""Tracked links in replies (through a signed callback) and in mass sends; export and erase of clicks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import content
from base.clock import FakeClock
from base.vault import PhoneVault
from content.loader import read_content_dir
from handlers.context import Services
from identity.erase import erase_subject
from identity.export import export_subject
from identity.subjects import find_subject
from journeys import jobs
from journeys.runtime import build_runtime
from publishing.publish import load_bundle
from storage.db import Database
from tests.journeys.helpers import APPID, add_follower, add_template
from tests.links.conftest import PUBLIC, Linked, click_events, clicks
from tests.support.wechat import TestAccount, plaintext_callback, read_reply, text_xml

# Clicks are written through the group commit on SQLite and engine transactions elsewhere: both run.
pytestmark = pytest.mark.storage

SEED = Path(content.__file__).parent / "seed"
_LINK = re.compile(re.escape(PUBLIC) + r"/l/[A-Za-z0-9_-]+")
MONTHLY = "https://www.example.cn/monthly"


async def test_a_keyword_reply_carries_tracked_links_that_count_for_whoever_authorizes(
    linked: Linked, db: Database, clock: FakeClock
) -> None:
    async with db.transaction() as session:
        await load_bundle(session, read_content_dir(SEED), now=clock.now())
    shopper = await add_follower(db, clock, "o-shopper")
    account = TestAccount.from_settings(linked.settings)
    callback = plaintext_callback(
        account, text_xml("o-shopper", "店铺", msg_id="9001"), timestamp=int(clock.now().timestamp())
    )
    response = await linked.client.post("/wechat", params=callback.params, data=callback.body)
    reply = read_reply(account, await response.text())
    links = _LINK.findall(reply["Content"])
    assert len(links) == 3 and "chayu.tmall.com" not in reply["Content"]
    answer = await linked.click(links[1], as_openid="o-shopper")
    assert (answer.status, answer.headers["Location"]) == (302, "https://chayu.jd.com/")
    [row] = await clicks(db)
    assert (row.delivery_kind, row.follower_id, row.link_index, row.forwarded) == ("reply", shopper, 1, False)
    assert len(await click_events(db)) == 1


async def test_a_mass_send_is_tracked_per_mass_send_and_link(linked: Linked, db: Database, clock: FakeClock) -> None:
    news: dict[str, Any] = {
        "kind": "mass_news",
        "purpose": "marketing",
        "links": [MONTHLY],
        "articles": [
            {
                "title": "月刊",
                "thumb_media_id": "THUMB1",
                "content": f'<p>本月新品 <a href="{MONTHLY}">详情</a></p>',
                "content_source_url": MONTHLY,
            }
        ],
    }
    await add_template(db, clock, "monthly", news)
    readers = {openid: await add_follower(db, clock, openid) for openid in ("o-m1", "o-m2")}
    runtime = build_runtime(
        Services(db=db, settings=linked.settings, clock=clock, wechat_api=linked.services.wechat_api,
                 link_tracker=linked.tracker)
    )  # fmt: skip
    await runtime.mass_sender.schedule(name="monthly", appid=APPID, template="monthly", segment="all", at=clock.now())
    await jobs.run_mass_sends(runtime)
    [uploaded] = linked.fake.news.values()
    article = uploaded[0]
    [source] = _LINK.findall(article["content_source_url"])
    assert _LINK.findall(article["content"]) == [source] and MONTHLY not in str(article)
    for openid in readers:
        answer = await linked.click(source, as_openid=openid)
        assert (answer.status, answer.headers["Location"]) == (302, MONTHLY)
        linked.client.session.cookie_jar.clear()
    rows = await clicks(db)
    assert sorted(r.follower_id or 0 for r in rows) == sorted(readers.values())
    assert {(r.delivery_kind, r.forwarded, r.via) for r in rows} == {("mass_send", False, "authorized")}


async def test_export_shows_a_persons_clicks_and_erase_removes_them(
    linked: Linked, db: Database, clock: FakeClock
) -> None:
    from tests.links.test_push_clicks import _sent_push

    follower_id, _push, link = await _sent_push(linked, db, clock, openid="o-dpo")
    assert (await linked.click(link, as_openid="o-dpo")).status == 302
    async with db.transaction() as session:
        subject = await find_subject(session, PhoneVault(), "o-dpo")
        document = await export_subject(session, subject, now=clock.now())
        assert [c["follower_id"] for c in document["link_clicks"]] == [follower_id]
        assert [e["kind"] for e in document["domain_events"]] == ["link_clicked"]
        report = await erase_subject(session, subject, actor="admin:dpo", now=clock.now())
    assert report.rows["link_clicks"] == 1
    assert await clicks(db) == []
