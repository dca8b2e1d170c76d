"""`scrm mass-send`: plan, list with this month's count, cancel; refusals are usage errors, not tracebacks."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from base.clock import CHINA, FakeClock
from scrm.cli.main import main
from storage.db import Database
from tests.journeys.helpers import add_template
from tests.journeys.test_mass_send_and_jobs import MASS_NEWS


def test_plan_list_and_cancel_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SCRM_DATABASE_URL", url)
    monkeypatch.setenv("WECHAT_APPID", "wx1234567890abcdef")
    assert main(["mass-send", "list", "--json"]) == 0  # migrates the new database too
    assert json.loads(capsys.readouterr().out)["mass_sends"] == []

    async def seed() -> None:
        db = Database(url)
        try:
            await add_template(db, FakeClock(), "news", MASS_NEWS)
        finally:
            await db.dispose()

    asyncio.run(seed())
    at = (datetime.now(CHINA) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    assert (
        main(["mass-send", "schedule", "--name", "n1", "--template", "news", "--segment", "tag:会员", "--at", at]) == 0
    )
    capsys.readouterr()
    assert main(["mass-send", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    [plan] = listed["mass_sends"]
    assert (plan["segment"], plan["status"], plan["sent"]) == ("tag:会员", "scheduled", None)
    assert listed["this_period"]["limit"] == 4
    assert main(["mass-send", "cancel", str(plan["id"])]) == 0
    assert "cancelled" in capsys.readouterr().out
    assert main(["mass-send", "cancel", str(plan["id"])]) == 2
    assert "cannot be cancelled" in capsys.readouterr().err
