"""Mass sends (4 a month, clientmsgid, crash resend) and the scheduled jobs called with a fake clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from content.model import JourneyDefinition
from handlers.context import Services
from journeys import jobs
from journeys.mass_send import MassSendError
from journeys.runtime import build_runtime
from publishing.publish import save_journey
from sandbox.fake_wechat import FakeWeChat
from storage.db import Database
from storage.models.core import AuditEntry, InboundEvent
from storage.models.pushes import MassSend, MassSendBatch, MassSendReceipt
from tests.journeys.helpers import APPID, add_follower, add_template, wired_dispatcher

MASS_NEWS: dict[str, Any] = {
    "kind": "mass_news",
    "purpose": "marketing",
    "articles": [{"title": "三月新品", "thumb_media_id": "THUMB1", "content": "<p>新品上市</p>"}],
}


def _serve_uploadnews(fake: FakeWeChat) -> None:
    # The fake has no media/uploadnews yet: answer it with a fixed media id for these tests.
    async def upload(_request: web.Request) -> web.Response:
        return web.json_response({"type": "news", "media_id": "MEDIA1", "created_at": 1})

    fake.app.router._frozen = False  # the fake's app is running; adding one route is safe in tests
    fake.app.router.add_post("/cgi-bin/media/uploadnews", upload)


async def test_mass_send_respects_four_a_month_and_resends_safely(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    await add_template(db, clock, "march_news", MASS_NEWS)
    openids = [f"o-m{i}" for i in range(3)]
    for openid in openids:
        await add_follower(db, clock, openid)
    await add_follower(db, clock, "o-no-consent", consent=False)
    async with wired_dispatcher(db, clock, settings) as wired:
        _serve_uploadnews(wired.fake)
        runtime = build_runtime(Services(db=db, settings=wired.settings, clock=clock, wechat_api=wired.api))
        for week in range(4):
            await runtime.mass_sender.schedule(
                name=f"weekly-{week}", appid=APPID, template="march_news", segment="all",
                at=clock.now() + timedelta(days=7 * week, hours=1),
            )  # fmt: skip
        # A fifth in the same China month is refused when it is planned, saying why.
        with pytest.raises(MassSendError, match="already has 4 mass sends in .* WeChat allows 4 a month"):
            await runtime.mass_sender.schedule(
                name="weekly-4", appid=APPID, template="march_news", segment="all", at=clock.now() + timedelta(days=20)
            )
        # One planned past that check (a monthly repeat, say) still reaches nobody already at 4.
        async with db.transaction() as session:
            first = (await session.exec(select(MassSend).where(MassSend.name == "weekly-0"))).one()
            session.add(
                MassSend(name="weekly-4", appid=APPID, template_version_id=first.template_version_id, segment="all",
                         scheduled_at=clock.now() + timedelta(days=20), created_at=clock.now())
            )  # fmt: skip
        for _ in range(5):
            clock.advance(days=7)
            await jobs.run_mass_sends(runtime)
        calls = wired.fake.calls_to("message/mass/send")
    async with db.session() as session:
        plans = {p.name: p for p in (await session.exec(select(MassSend))).all()}
    # Four broadcasts reached the three consenting followers; the fifth in the same month reached nobody.
    assert [sorted(call.json["touser"]) for call in calls if call.json] == [sorted(openids)] * 4
    month_full = [p for p in plans.values() if p.skipped_monthly_limit == 3]
    assert len(month_full) == 1 and month_full[0].recipients == 0


async def test_an_interrupted_batch_is_resent_with_the_same_clientmsgid(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    await add_template(db, clock, "news", MASS_NEWS)
    for openid in ("o-a", "o-b"):
        await add_follower(db, clock, openid)
    async with wired_dispatcher(db, clock, settings) as wired:
        _serve_uploadnews(wired.fake)
        runtime = build_runtime(Services(db=db, settings=wired.settings, clock=clock, wechat_api=wired.api))
        await runtime.mass_sender.schedule(name="once", appid=APPID, template="news", segment="all", at=clock.now())
        await jobs.run_mass_sends(runtime)
        # Simulate a crash after WeChat accepted the batch but before it was recorded as sent.
        async with db.session() as session:
            batch = (await session.exec(select(MassSendBatch))).one()
            batch.status = "sending"
            session.add(batch)
            plan = (await session.exec(select(MassSend))).one()
            plan.status = "sending"
            session.add(plan)
            await session.commit()
        await jobs.run_mass_sends(runtime)
        answers = [call.errcode for call in wired.fake.calls_to("message/mass/send")]
    assert answers == [0, 45065]
    async with db.session() as session:
        batch = (await session.exec(select(MassSendBatch))).one()
        receipts = (await session.exec(select(MassSendReceipt))).all()
    assert (batch.status, batch.errcode) == ("sent", 45065)
    assert len(receipts) == 2


async def test_no_purchase_scan_enrols_quiet_followers_once(db: Database, clock: FakeClock, settings: Settings) -> None:
    await add_template(db, clock, "nudge")
    doc = {"name": "winback", "trigger": {"kind": "no_purchase", "days": 3},
           "steps": [{"type": "send", "id": "nudge", "template": "nudge"}]}  # fmt: skip
    async with db.session() as session:
        await save_journey(session, JourneyDefinition.from_doc(doc), now=clock.now())
        await session.commit()
    await add_follower(db, clock, "o-quiet")
    runtime = build_runtime(Services(db=db, settings=settings, clock=clock))
    try:
        assert await jobs.scan_no_purchase(runtime) == 0  # followed a day ago: not yet
        clock.advance(days=3)
        assert await jobs.scan_no_purchase(runtime) == 1
        assert await jobs.scan_no_purchase(runtime) == 0  # the same quiet spell is not emitted twice
        outcome = await jobs.process_domain_events(runtime)
        assert outcome["enrolled"] == 1
        assert (await jobs.nightly_aggregates(runtime)) == {"journeys": 1}
    finally:
        await runtime.close()
    async with db.session() as session:
        entry = (await session.exec(select(AuditEntry))).one()
    assert entry.action == "journeys.daily_report"
    assert entry.detail["journeys"][0]["journey"] == "winback"


async def test_purge_callbacks_job_deletes_old_ledger_rows_only(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    now = clock.now()
    async with db.transaction() as session:
        for key, age in (("old", timedelta(days=3)), ("recent", timedelta(minutes=5))):
            session.add(
                InboundEvent(
                    dedup_key=key, appid="wx1", openid="o1", kind="text", received_at=now - age,
                    state="done", finished_at=now - age,
                )
            )  # fmt: skip
    runtime = build_runtime(Services(db=db, settings=settings, clock=clock))
    try:
        assert (await jobs.purge_callbacks(runtime))["deleted"] == 1
    finally:
        await runtime.close()
    async with db.session() as session:
        assert [row.dedup_key for row in (await session.exec(select(InboundEvent))).all()] == ["recent"]
