"""A mass send to a saved profile-list segment reaches the followers of the profiles it matches now."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from handlers.context import Services
from journeys import jobs
from journeys.mass_send import MassSendError
from journeys.runtime import build_runtime
from storage.db import Database
from storage.models.core import Follower, Profile
from storage.models.pushes import MassSend
from storage.profile_list import FilterError, ProfileFilter, save_segment
from tests.journeys.helpers import APPID, add_follower, add_template, wired_dispatcher
from tests.journeys.test_mass_send_and_jobs import MASS_NEWS, _serve_uploadnews


async def _with_profile(db: Database, clock: FakeClock, openid: str, spent_fen: int) -> None:
    fid = await add_follower(db, clock, openid)
    async with db.transaction() as session:
        profile = Profile(phone_key=openid, phone_sealed="s", total_spent_fen=spent_fen, order_count=1,
                          created_at=clock.now(), updated_at=clock.now())  # fmt: skip
        session.add(profile)
        await session.flush()
        follower = await session.get(Follower, fid)
        assert follower is not None
        follower.profile_id = profile.id
        session.add(follower)


async def test_a_saved_segment_is_a_mass_send_target(db: Database, clock: FakeClock, settings: Settings) -> None:
    await add_template(db, clock, "vip_news", MASS_NEWS)
    for openid, spent in (("o-vip1", 90_000), ("o-vip2", 60_000), ("o-small", 1_000)):
        await _with_profile(db, clock, openid, spent)
    await add_follower(db, clock, "o-unbound")
    async with db.transaction() as session:
        await save_segment(session, "大客户", ProfileFilter(spend_min_fen=50_000), by="ana", now=clock.now())
    async with wired_dispatcher(db, clock, settings) as wired:
        _serve_uploadnews(wired.fake)
        runtime = build_runtime(Services(db=db, settings=wired.settings, clock=clock, wechat_api=wired.api))
        with pytest.raises(MassSendError, match="no saved segment"):
            await runtime.mass_sender.schedule(
                name="typo", appid=APPID, template="vip_news", segment="saved:大客戶", at=clock.now()
            )
        await runtime.mass_sender.schedule(
            name="vip", appid=APPID, template="vip_news", segment="saved:大客户", at=clock.now() + timedelta(hours=1)
        )
        clock.advance(hours=2)
        await jobs.run_mass_sends(runtime)
        [call] = wired.fake.calls_to("message/mass/send")
    assert call.json is not None and sorted(call.json["touser"]) == ["o-vip1", "o-vip2"]
    async with db.session() as session:
        [plan] = (await session.exec(select(MassSend))).all()
    assert plan.recipients == 2


async def test_a_segment_deleted_before_its_send_fails_the_send_with_a_reason(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    await add_template(db, clock, "vip_news", MASS_NEWS)
    async with db.transaction() as session:
        saved = await save_segment(session, "gone", ProfileFilter(r_min=4), by="ana", now=clock.now())
    async with wired_dispatcher(db, clock, settings) as wired:
        runtime = build_runtime(Services(db=db, settings=wired.settings, clock=clock, wechat_api=wired.api))
        await runtime.mass_sender.schedule(
            name="x", appid=APPID, template="vip_news", segment="saved:gone", at=clock.now()
        )
        async with db.transaction() as session:
            await session.delete(saved)
        await jobs.run_mass_sends(runtime)
        assert wired.fake.calls_to("message/mass/send") == []
    async with db.session() as session:
        [plan] = (await session.exec(select(MassSend))).all()
    assert (plan.status, plan.error) == ("failed", "saved segment 'gone' no longer exists")


async def test_a_saved_segment_needs_a_name_and_a_filter(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as session:
        with pytest.raises(FilterError, match="name"):
            await save_segment(session, " ", ProfileFilter(r_min=4), by="a", now=clock.now())
        with pytest.raises(FilterError, match="at least one filter"):
            await save_segment(session, "everyone", ProfileFilter(sort="spend"), by="a", now=clock.now())
