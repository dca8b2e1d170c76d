"""The demo clock through the whole application: the sandbox page shows it and moves it a day ahead, every
process sharing the database sees the jump at the same moment, and a journey's next step becomes due."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from base.clock import ADVANCE_LEAD, DemoClock, DemoOffset
from base.settings import Settings
from journeys.jobs import dispatch_tick, process_domain_events
from journeys.runtime import build_runtime
from publishing.publish import load_directory
from sandbox.fake_wechat import FakeWeChat
from scrm.app import Sandbox, build_services, build_web_app
from scrm.demo import DEMO_ACCOUNT, SEED_CONTENT
from scrm.demo_clock import SharedDemoClock, fold_speed
from storage.db import Database
from storage.demo_clock import read_offset
from storage.models.pushes import JourneyRun

# 09:00 China time on a Monday: the new-follower journey waits a day, then until 10:00, then sends.
START = datetime(2026, 1, 5, 1, 0, tzinfo=UTC).timestamp()
DAY = 86_400.0
SPEED = 1800.0  # two real seconds: one demo hour


class RealTime:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_advancing_a_day_in_the_sandbox_makes_the_journeys_next_step_go_out(
    aiohttp_client: Callable[..., Any], db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    settings = Settings(database_url=db_url, demo=True).with_overrides(
        **DEMO_ACCOUNT, wechat_api_base=f"{origin}/fake-wechat"
    )
    real = RealTime()
    clock = DemoClock(speed=SPEED, anchor=START, real=real)
    await load_directory(db, SEED_CONTENT, now=clock.now(), by="test")
    shared = SharedDemoClock(db, clock)
    services = build_services(settings, db, clock)
    fake = FakeWeChat(clock=clock)
    app = build_web_app(services, sandbox=Sandbox(fake, origin, clock_control=shared), scheduler=False)
    client = await aiohttp_client(app, server_kwargs={"port": port})
    runtime = build_runtime(services)

    async def run_jobs() -> None:
        for _ in range(3):
            await process_domain_events(runtime)
            await dispatch_tick(runtime)

    follower = await (await client.post("/sandbox/api/followers", json={"label": "Alice"})).json()
    openid = follower["openid"]
    actions = f"/sandbox/api/followers/{openid}/actions"
    # Follow through a channel QR code, then agree to marketing messages (which opens the 48-hour window).
    for action in (
        {"action": "follow", "scene": "store_sh01"},
        {"action": "text", "content": "订阅"},
        {"action": "text", "content": "是"},
    ):
        response = await client.post(actions, json=action)
        assert response.status == 200, await response.text()
        assert not [e for e in (await response.json())["entries"] if e["side"] == "system"]
    await run_jobs()
    async with db.session() as session:
        run = (await session.exec(select(JourneyRun).where(JourneyRun.journey_name == "new_follower"))).one()
    assert run.state == "active"
    assert run.resume_at == datetime.fromtimestamp(START + DAY, UTC)
    assert not fake.sent_to(openid)

    state = await (await client.get("/sandbox/api/clock")).json()
    assert state["now_china"] == "2026-01-05 09:00:00" and state["speed"] == SPEED and state["controllable"]
    advanced = await (await client.post("/sandbox/api/clock/advance", json={"days": 1})).json()
    assert advanced["takes_effect_in"] == ADVANCE_LEAD
    # Another process of the same demo reads the shared offset and jumps at the same real moment.
    other = DemoClock(speed=SPEED, anchor=START, real=real)
    await SharedDemoClock(db, other).refresh()
    assert other.offset == clock.offset == DemoOffset(DAY, 0.0, START + ADVANCE_LEAD)
    await run_jobs()
    assert not fake.sent_to(openid)  # not yet: the jump is announced, not made

    real.now += 4  # the jump, and two demo hours: 11:00 China time the next day
    assert other.now() == clock.now() == datetime.fromtimestamp(START + DAY + 4 * SPEED, UTC)
    state = await (await client.get("/sandbox/api/state")).json()
    assert state["clock"]["now_china"] == "2026-01-06 11:00:00"
    await run_jobs()
    sent = fake.sent_to(openid)
    assert [call.api for call in sent] == ["message/custom/send"]
    chat = await (await client.get(f"/sandbox/api/followers/{openid}/chat")).json()
    assert [entry for entry in chat["entries"] if entry["source"] == "push"]

    # Stopping folds the speed-up into the shared offset: the next demo starts where this one ended.
    await fold_speed(db, clock)
    offset = await read_offset(db)
    assert offset.at(real.now) == DAY + (SPEED - 1) * 4
    assert DemoClock(anchor=real.now, offset=offset, real=real).now() == clock.now()


async def test_the_sandbox_refuses_bad_advances_and_a_real_clock_cannot_be_moved(
    aiohttp_client: Callable[..., Any], db: Database, settings: Settings
) -> None:
    real = RealTime()
    clock = DemoClock(real=real)
    services = build_services(settings, db, clock)
    controlled = build_web_app(
        services,
        sandbox=Sandbox(FakeWeChat(clock=clock), "http://127.0.0.1:9", SharedDemoClock(db, clock)),
        scheduler=False,
    )
    client = await aiohttp_client(controlled)
    for days in (0, -1, 31, "one", True):
        response = await client.post("/sandbox/api/clock/advance", json={"days": days})
        assert response.status == 400, days
    assert (await read_offset(db)) == DemoOffset()

    uncontrolled = build_web_app(
        build_services(settings, db, clock), sandbox=Sandbox(FakeWeChat(), "http://127.0.0.1:9"), scheduler=False
    )
    other = await aiohttp_client(uncontrolled, headers={"Accept-Language": "en"})
    response = await other.post("/sandbox/api/clock/advance", json={"days": 1})
    assert response.status == 409 and "real clock" in (await response.json())["error"]
    assert (await (await other.get("/sandbox/api/clock")).json())["controllable"] is False
