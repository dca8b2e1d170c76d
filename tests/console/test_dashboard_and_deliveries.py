"""The dashboard's funnel charts and the deliveries list, on real rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from base.clock import CHINA, FakeClock
from base.metrics import JobStatus, SchedulerStatus
from handlers.context import Services
from storage.db import Database
from storage.models.core import DomainEvent
from tests.console import seed


async def _population(db: Database, clock: FakeClock) -> int:
    now = clock.now()
    _template_id, journey_id = await seed.template_and_journey(db, now)
    store = [await seed.person(db, now, openid=f"s{i}", phone=None, channel="store_qr") for i in range(3)]
    bound, profile = await seed.person(db, now, openid="b1", phone="+8613800138001", orders=0, channel="store_qr")
    buyer, buyer_profile = await seed.person(db, now, openid="b2", phone="+8613800138002", orders=1, channel="kol")
    loyal, loyal_profile = await seed.person(db, now, openid="b3", phone="+8613800138003", orders=3, channel="kol")
    for follower_id, profile_id in ((bound, profile), (buyer, buyer_profile), (loyal, loyal_profile)):
        await seed.run(db, now, journey_id=journey_id, follower_id=follower_id, profile_id=profile_id)
    await seed.push(db, now, follower_id=buyer, journey_id=journey_id, status="sent")
    await seed.push(db, now, follower_id=loyal, journey_id=journey_id, status="expired", reason="no window opened")
    await seed.push(db, now, follower_id=store[0][0], journey_id=journey_id, status="held", reason="window closed")
    return journey_id


async def test_dashboard_shows_the_funnel_as_charts(
    admin: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    await _population(db, clock)
    html = await (await admin.get("/console/")).text()
    assert '<span class="value" id="stat-followers">6</span>' in html
    assert '<span class="value" id="stat-bound">3</span>' in html
    assert '<span class="value" id="stat-buyers">2</span>' in html
    assert '<span class="value" id="stat-repeat">1</span>' in html
    assert html.count("<svg") >= 4
    # Hover titles carry exact numbers per channel and stage.
    assert "store_qr · Followers: 4" in html
    assert "kol · Repeat buyers: 1" in html
    assert "onboarding · Bound a phone: 3" in html
    # Push outcomes per day: today's sent and expired pushes.
    assert "sent: 1</title>" in html and "expired: 1</title>" in html


async def test_empty_dashboard_renders(editor: TestClient[Any, Any]) -> None:
    answer = await editor.get("/console/")
    assert answer.status == 200
    html = await answer.text()
    assert "Funnel by channel: no data yet" in html
    assert "Push outcomes per day: no data yet" in html


async def test_deliveries_filter_by_outcome_and_journey(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    journey_id = await _population(db, clock)
    everything = await (await editor.get("/console/deliveries")).text()
    assert "no window opened" in everything and "window closed" in everything
    expired = await (await editor.get("/console/deliveries?status=expired")).text()
    assert "no window opened" in expired and "window closed" not in expired
    other_journey = await (await editor.get(f"/console/deliveries?journey_id={journey_id + 1}")).text()
    assert "No push matches" in other_journey
    tomorrow = (clock.now() + timedelta(days=1)).astimezone(CHINA).date().isoformat()
    later = await (await editor.get(f"/console/deliveries?day_from={tomorrow}")).text()
    assert "No push matches" in later


async def test_bad_delivery_filters_are_reported_not_fatal(editor: TestClient[Any, Any]) -> None:
    answer = await editor.get("/console/deliveries?status=bogus&day_from=yesterday&journey_id=x")
    assert answer.status == 200
    html = await answer.text()
    assert "Unknown outcome" in html and "must be a date" in html and "must be a number" in html


async def test_deliveries_show_masked_phones_only(editor: TestClient[Any, Any], db: Database, clock: FakeClock) -> None:
    now = clock.now()
    follower, profile = await seed.person(db, now, openid="m1", phone="+8613912345678", orders=1)
    await seed.push(db, now, follower_id=follower, profile_id=profile, journey_id=None, status="sent")
    html = await (await editor.get("/console/deliveries")).text()
    assert "139****5678" in html
    assert "13912345678" not in html


async def test_the_engine_panel_shows_backlogs_and_a_stalled_scheduler(
    admin: TestClient[Any, Any], db: Database, clock: FakeClock, services: Services
) -> None:
    await _population(db, clock)
    async with db.transaction() as session:
        session.add(DomainEvent(kind="followed", occurred_at=clock.now(), payload={}))
    html = await (await admin.get("/console/")).text()
    assert "No scheduler is running" in html
    assert '<td class="num" id="backlog-held">1</td>' in html
    assert '<td class="num" id="backlog-events">1</td>' in html

    dispatch = JobStatus("dispatch_tick", 5.0, 42.0, 7, 3, "OperationalError: database is locked", stalled=True)
    events = JobStatus("process_domain_events", 5.0, 1.0, 40, 0, "", stalled=False)
    services.probes.scheduler = lambda: SchedulerStatus(True, "host:1:abc", False, (dispatch, events))
    html = await (await admin.get("/console/")).text()
    assert "Scheduler stalled" in html
    assert "42 s ago" in html and "OperationalError: database is locked" in html

    services.probes.scheduler = lambda: SchedulerStatus(True, "host:1:abc", False, (events,))
    assert "Scheduler running</strong> in this process (host:1:abc)" in await (await admin.get("/console/")).text()
