"""What a dispatch reports: the housekeeping's counts (interrupted sends found) beside the drain's own.

Issue 18: after a killed dispatcher, `scrm pushes dispatch` said `"unknown": 0` while its log said it had
marked 500: the drain's keys overwrote the housekeeping's.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from base.clock import FakeClock, SystemClock
from base.settings import Settings
from handlers.context import Services
from journeys import jobs
from journeys.runtime import build_runtime
from sandbox.fake_wechat import FakeWeChat
from storage.db import Database
from storage.migrate import upgrade_async
from storage.pushes import PUSHES
from tests.journeys.helpers import APPID, add_template, bulk_pushes

ROOT = Path(__file__).resolve().parents[2]
SERVICE_TEXT = {"kind": "text", "purpose": "service", "content": "您的订单已发货"}


async def _one_interrupted_two_due(db: Database, clock: FakeClock, now: datetime) -> None:
    """Three pushes due; the first was "sending" when its dispatcher died, ten minutes before `now`."""
    version = await add_template(db, clock, "shipped", SERVICE_TEXT)
    await bulk_pushes(db, 3, now, version, "o-report")
    async with db.engine.begin() as conn:
        await conn.execute(
            update(PUSHES)
            .where(PUSHES.c.openid == "o-report-0")
            .values(status="sending", claim_token="dead", claimed_at=now - timedelta(minutes=10), channel="custom")
        )


async def test_the_dispatch_job_reports_interrupted_sends_beside_what_it_sent(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    await _one_interrupted_two_due(db, clock, clock.now())
    async with FakeWeChat(clock=clock) as fake:
        services = Services(db=db, settings=settings.with_overrides(wechat_api_base=fake.base_url), clock=clock)
        runtime = build_runtime(services)
        try:
            counts = await jobs.dispatch_tick(runtime)
        finally:
            await runtime.close()
    assert counts["unknown"] == 1
    assert (counts["drain_sent"], counts["drain_unknown"]) == (2, 0)


async def test_scrm_pushes_dispatch_reports_interrupted_sends_beside_what_it_sent(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    await upgrade_async(url)
    db = Database(url)
    try:
        now = SystemClock().now()
        await _one_interrupted_two_due(db, FakeClock(now), now)
    finally:
        await db.dispose()
    async with FakeWeChat() as fake:
        env = {
            **os.environ, "PYTHONPATH": str(ROOT), "SCRM_DATABASE_URL": url, "WECHAT_APPID": APPID,
            "WECHAT_APPSECRET": "secret", "WECHAT_API_BASE": fake.base_url,
        }  # fmt: skip
        command = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "scrm.cli.main", "pushes", "dispatch",
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await command.communicate()
        assert command.returncode == 0, err.decode()
        sent = [call.json["touser"] for call in fake.calls_to("message/custom/send") if call.json]
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["unknown"] == 1, report
    assert (report["drain_sent"], report["drain_unknown"]) == (2, 0), report
    assert sorted(sent) == ["o-report-1", "o-report-2"]
