"""A profile with journey runs opens for admins and editors, showing where each run stands."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from base.clock import FakeClock
from storage.db import Database
from storage.models.pushes import JourneyRun
from tests.console import seed


async def _profile_with_runs(db: Database, clock: FakeClock) -> int:
    now = clock.now()
    _template, journey_id = await seed.template_and_journey(db, now)
    follower_id, profile_id = await seed.person(db, now, openid="oRun1", phone="+8613812340001", orders=1)
    assert profile_id is not None
    async with db.transaction() as session:
        session.add(
            JourneyRun(
                journey_id=journey_id, journey_name="onboarding", follower_id=follower_id, profile_id=profile_id,
                step_id="again", resume_at=now + timedelta(days=2), sends_planned=1, entered_at=now,
            )
        )  # fmt: skip
        session.add(
            JourneyRun(
                journey_id=journey_id, journey_name="onboarding", follower_id=follower_id, profile_id=profile_id,
                state="completed", step_id="", sends_planned=2, entered_at=now - timedelta(days=30),
                ended_at=now - timedelta(days=28), end_reason="last step done",
            )
        )  # fmt: skip
    return profile_id


async def test_a_profile_with_journey_runs_shows_each_runs_current_step(
    admin: TestClient[Any, Any], editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    profile_id = await _profile_with_runs(db, clock)
    for client in (admin, editor):
        answer = await client.get(f"/console/profiles/{profile_id}")
        page = await answer.text()
        assert answer.status == 200, page
        assert '<td class="run-step">again (resumes ' in page
        assert '<td class="run-step">–</td>' in page  # the ended run stands at no step
        assert "completed (last step done)" in page
