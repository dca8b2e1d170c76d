"""Planning mass sends: the account's counter of the month, cancelling, tag audiences and WeChat's results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from base.clock import FakeClock
from journeys.mass_plans import MassSendError, allowance, cancel_mass_send, count_audience, schedule_mass_send
from storage import mass_sends as store
from storage.db import Database
from storage.engagement import record_mass_send_result
from storage.models.core import Account, Follower, Profile
from storage.models.pushes import MassSend
from tests.journeys.helpers import APPID, add_follower, add_template
from tests.journeys.test_mass_send_and_jobs import MASS_NEWS

pytestmark = pytest.mark.storage


async def _plan(db: Database, clock: FakeClock, name: str, at: datetime) -> MassSend:
    return await schedule_mass_send(
        db, name=name, appid=APPID, template="news", segment="all", at=at, now=clock.now(), by="ana"
    )


async def test_the_counter_is_per_china_month_and_a_cancelled_send_gives_its_place_back(
    db: Database, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    await add_template(db, clock, "news", MASS_NEWS)
    plans = [await _plan(db, clock, f"s{n}", clock.now() + timedelta(days=n)) for n in range(4)]
    with pytest.raises(MassSendError, match="already has 4 mass sends in 2026-03"):
        await _plan(db, clock, "fifth", clock.now() + timedelta(days=5))
    # 1 April 01:00 in China is still 31 March in UTC: it belongs to April's four.
    april = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)
    await _plan(db, clock, "april", april)
    async with db.session() as session:
        assert (await allowance(session, APPID, clock.now())).used == 4
        assert (await allowance(session, APPID, april)).used == 1
    assert plans[0].id is not None
    cancelled = await cancel_mass_send(db, plans[0].id, by="ana", now=clock.now())
    assert cancelled.status == "cancelled"
    with pytest.raises(MassSendError, match="cannot be cancelled"):
        await cancel_mass_send(db, plans[0].id, by="ana", now=clock.now())
    await _plan(db, clock, "fifth", clock.now() + timedelta(days=5))


async def test_a_subscription_account_may_send_once_a_china_day(db: Database, clock: FakeClock) -> None:
    await add_template(db, clock, "news", MASS_NEWS)
    async with db.transaction() as session:
        session.add(Account(appid=APPID, kind="subscription", created_at=clock.now()))
    await _plan(db, clock, "today", clock.now())
    with pytest.raises(MassSendError, match="WeChat allows 1 a day"):
        await _plan(db, clock, "again", clock.now() + timedelta(hours=2))
    await _plan(db, clock, "tomorrow", clock.now() + timedelta(days=1))


async def test_a_tag_target_counts_consenting_followers_of_tagged_profiles(db: Database, clock: FakeClock) -> None:
    for openid, tags, consent in (("o-1", ["会员", "vip"], True), ("o-2", ["会员"], False), ("o-3", [], True)):
        fid = await add_follower(db, clock, openid, consent=consent)
        async with db.transaction() as session:
            profile = Profile(phone_key=openid, phone_sealed="s", tags=tags, created_at=clock.now(),
                              updated_at=clock.now())  # fmt: skip
            session.add(profile)
            await session.flush()
            follower = await session.get(Follower, fid)
            assert follower is not None
            follower.profile_id = profile.id
            session.add(follower)
    members = await count_audience(db, APPID, "tag:会员", clock.now())
    assert (members.followers, members.consenting, members.reachable) == (2, 1, 1)
    assert members.sample_profile_id is not None
    assert (await count_audience(db, APPID, "all", clock.now())).reachable == 2
    with pytest.raises(MassSendError, match="no saved segment 'nope'"):
        await count_audience(db, APPID, "saved:nope", clock.now())


async def test_results_sum_what_wechat_reported_for_each_batch(db: Database, clock: FakeClock) -> None:
    await add_template(db, clock, "news", MASS_NEWS)
    plan = await _plan(db, clock, "report", clock.now())
    assert plan.id is not None
    async with db.transaction() as session:
        for number in (1, 2):
            batch = await store.add_batch(session, plan.id, number, [(number, f"o-{number}")], "2026-01")
            batch.msg_id = f"100{number}"
            session.add(batch)
        await record_mass_send_result(
            session, appid=APPID, msg_id="1001", status="send success",
            counts={"total_count": 10, "filter_count": 9, "sent_count": 8, "error_count": 1}, at=clock.now(),
        )  # fmt: skip
    async with db.session() as session:
        results = await store.plan_results(session, await store.list_plans(session))
    assert results[plan.id] == store.PlanResults(batches=2, reported=1, total=10, sent=8, errors=1, filtered=9)
