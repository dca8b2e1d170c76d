"""The profile list: filters from a shareable URL, sorting, pages, saved segments, the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import select

from base.clock import FakeClock
from base.vault import PhoneVault, mask_phone
from storage.db import Database
from storage.models.core import AuditEntry, Profile
from storage.profile_list import PAGE_SIZE, saved_segment
from tests.console import seed
from tests.console.conftest import csrf

pytestmark = pytest.mark.storage


async def _profiles(db: Database, clock: FakeClock, count: int, *, first: int = 0) -> list[int]:
    """`count` imported profiles: profile i has i orders, spends i×¥10 and is 'loyal' when i is even."""
    vault = PhoneVault()
    ids = []
    async with db.transaction() as session:
        for i in range(first, first + count):
            phone = f"+86139{i:08d}"
            profile = Profile(
                phone_key=vault.lookup_key(phone), phone_sealed=vault.seal(phone), phone_masked=mask_phone(phone),
                name=f"客户{i}", order_count=i, total_spent_fen=1000 * i, segment="loyal" if i % 2 == 0 else "new",
                last_order_at=clock.now() - timedelta(days=i) if i else None, created_at=clock.now(),
                updated_at=clock.now(),
            )  # fmt: skip
            session.add(profile)
            await session.flush()
            assert profile.id is not None
            ids.append(profile.id)
    return ids


def _ids_on(html: str) -> list[int]:
    body = html.split('<table id="profile-list">', 1)[1].split("</table>", 1)[0]
    return [int(part.split('">', 1)[0]) for part in body.split('href="/console/profiles/')[1:]]


async def test_a_filter_in_the_url_sorts_and_pages(admin: TestClient[Any, Any], db: Database, clock: FakeClock) -> None:
    ids = await _profiles(db, clock, 2 * PAGE_SIZE + 10)
    spenders = [ids[i] for i in range(len(ids)) if i % 2 == 0 and i >= 20]  # loyal with at least ¥200
    html = await (await admin.get("/console/profiles?segment=loyal&spend_min=200&sort=spend")).text()
    assert _ids_on(html) == sorted(spenders, reverse=True)[:PAGE_SIZE]
    assert f"{len(spenders)} profiles match." in html
    # Every page link keeps the filter (the URL can be shared); the last page has no "next".
    assert "segment=loyal&amp;spend_min=200&amp;sort=spend&amp;page=2" not in html  # 50 of 50: one page
    everyone = await (await admin.get("/console/profiles?sort=orders&page=2")).text()
    assert _ids_on(everyone) == sorted(ids, reverse=True)[PAGE_SIZE : 2 * PAGE_SIZE]
    assert 'href="?sort=orders&amp;page=3" rel="next"' in everyone
    assert 'href="?sort=orders&amp;page=1" rel="prev"' in everyone
    # The list never shows a full number, not even to an admin.
    assert "+8613900000022" not in html and mask_phone("+8613900000022") in html


async def test_bad_filter_values_are_named_and_ignored(
    admin: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    await _profiles(db, clock, 5)
    answer = await admin.get("/console/profiles?r_min=9&spend_min=abc&segment=vip&sort=rand&orders_min=4&orders_max=2")
    html = await answer.text()
    assert answer.status == 200
    for message in (
        "Recency score at least must be a whole number from 0 to 5: ignored.",
        "Spend from (¥) must be an amount in yuan like 199 or 199.50: ignored.",
        "Unknown segment “vip”: ignored.",
        "Unknown sort “rand”: sorted by last order.",
        "A minimum is above its maximum: no profile can match.",
    ):
        assert message in html
    assert "No profile matches this filter." in html


async def test_saving_a_segment_validates_its_name_and_keeps_the_filter(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    await _profiles(db, clock, 3)
    form = {"csrf_token": csrf(editor), "segment": "loyal", "orders_min": "2", "spend_min": "19.5"}
    bad = await editor.post("/console/profiles/segments", data={**form, "name": "vip shanghai"})
    assert bad.status == 400
    assert "A segment name is 1-40 letters, digits" in await bad.text()
    empty = await editor.post("/console/profiles/segments", data={"csrf_token": csrf(editor), "name": "all_of_them"})
    assert empty.status == 400 and "Choose at least one filter" in await empty.text()
    saved = await editor.post("/console/profiles/segments", data={**form, "name": "vip_沪"})
    assert saved.status == 200 and "/profiles/segments" in str(saved.url)
    listing = await saved.text()
    assert "saved:vip_沪" in listing and "Spend from (¥): 19.50" in listing
    again = await editor.post("/console/profiles/segments", data={**form, "orders_min": "3", "name": "vip_沪"})
    assert again.status == 400 and "tick “replace”" in await again.text()
    replaced = await editor.post(
        "/console/profiles/segments", data={**form, "orders_min": "3", "name": "vip_沪", "replace": "1"}
    )
    assert replaced.status == 200
    async with db.session() as session:
        spec = await saved_segment(session, "vip_沪")
        actions = [e.action for e in (await session.exec(select(AuditEntry))).all()]
    assert spec is not None and (spec.segment, spec.orders_min, spec.spend_min_fen) == ("loyal", 3, 1950)
    assert actions.count("console.segment_saved") == 2
    deleted = await editor.post(
        "/console/profiles/segments/delete", data={"csrf_token": csrf(editor), "name": "vip_沪"}
    )
    assert "The saved segment was deleted." in await deleted.text()


async def test_only_admins_export_and_full_numbers_are_on_the_record(
    admin: TestClient[Any, Any], editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    await _profiles(db, clock, 7)
    refused = await editor.post("/console/profiles/export.csv", data={"csrf_token": csrf(editor), "segment": "loyal"})
    assert refused.status == 403
    masked = await admin.post("/console/profiles/export.csv", data={"csrf_token": csrf(admin), "segment": "loyal"})
    assert masked.status == 200 and masked.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO((await masked.read()).decode("utf-8-sig"))))
    assert rows[0][:3] == ["Profile", "Name", "Phone"]
    assert [row[1] for row in rows[1:]] == ["客户0", "客户2", "客户4", "客户6"]
    assert rows[2][2] == mask_phone("+8613900000002")
    full = await admin.post(
        "/console/profiles/export.csv", data={"csrf_token": csrf(admin), "segment": "loyal", "full_phone": "1"}
    )
    full_rows = list(csv.reader(io.StringIO((await full.read()).decode("utf-8-sig"))))
    assert full_rows[2][2] == "+8613900000002"
    async with db.session() as session:
        entries = (await session.exec(select(AuditEntry).where(AuditEntry.action == "console.profiles_exported"))).all()
    assert [(e.actor, e.detail["full_phone"], e.detail["filter"]) for e in entries] == [
        ("console:alice", False, {"segment": "loyal"}),
        ("console:alice", True, {"segment": "loyal"}),
    ]


async def test_an_export_larger_than_a_chunk_is_complete_and_in_order(
    admin: TestClient[Any, Any], db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.views import profile_export

    monkeypatch.setattr(profile_export, "CHUNK", 4)  # 11 profiles in three chunks
    ids = await _profiles(db, clock, 11)
    answer = await admin.post("/console/profiles/export.csv", data={"csrf_token": csrf(admin)})
    rows = list(csv.reader(io.StringIO((await answer.read()).decode("utf-8-sig"))))
    assert [int(row[0]) for row in rows[1:]] == ids


async def test_deliveries_link_each_follower_to_their_profile(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    _template_id, journey_id = await seed.template_and_journey(db, now)
    bound, profile_id = await seed.person(db, now, openid="o-bound", phone="+8613800138001")
    unbound, _none = await seed.person(db, now, openid="o-free", phone=None)
    await seed.push(db, now, follower_id=bound, journey_id=journey_id, status="sent", profile_id=profile_id)
    await seed.push(db, now, follower_id=unbound, journey_id=journey_id, status="sent")
    html = await (await editor.get("/console/deliveries")).text()
    assert f'<a href="/console/profiles/{profile_id}" class="follower-profile">o{bound}</a>' in html
    assert f'<a href="/console/profiles?q=o{unbound}" class="follower-search">o{unbound}</a>' in html


async def test_the_list_page_asks_the_same_queries_for_a_full_page_as_for_one_row(
    admin: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    """No query per row: what keeps the page as fast as the backend's benchmark (bench/profile_list.py)."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "console_sessions" not in statement and "console_users" not in statement:
            statements.append(statement)

    await _profiles(db, clock, 1)
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await admin.get("/console/profiles")
        one_row = len(statements)
        await _profiles(db, clock, PAGE_SIZE + 5, first=1)
        statements.clear()
        html = await (await admin.get("/console/profiles?sort=spend")).text()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(_ids_on(html)) == PAGE_SIZE
    # A full page adds only the capped count (a single page of matches is its own count).
    assert len(statements) == one_row + 1


async def test_the_list_stops_at_its_deepest_page(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from console import profile_form

    monkeypatch.setattr(profile_form, "MAX_PAGE", 2)
    monkeypatch.setattr("console.views.profiles.MAX_PAGE", 2)
    await _profiles(db, clock, 3 * PAGE_SIZE)
    last = await (await editor.get("/console/profiles?page=2")).text()
    assert 'rel="next"' not in last and "The list stops here: narrow the filter, or export it." in last
    beyond = await (await editor.get("/console/profiles?page=3")).text()
    assert "Page must be a whole number from 1 to 2: ignored." in beyond
