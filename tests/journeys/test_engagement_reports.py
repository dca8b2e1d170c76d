"""Reports per template and per channel, in the library and through `scrm report templates` / `scrm channels`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from base.clock import FakeClock
from journeys.report import journey_report
from scrm.cli.main import main
from storage.db import Database
from storage.models.core import Follower
from storage.models.engagement import Channel, TemplateReceipt
from storage.models.links import LinkClick
from storage.models.pushes import Push, PushAttribution
from storage.reports import template_figures
from tests.journeys.helpers import APPID, add_follower, add_template

pytestmark = pytest.mark.storage


async def _sent(db: Database, clock: FakeClock) -> None:
    promo = await add_template(db, clock, "promo")
    notice = await add_template(
        db, clock, "shipped",
        {"kind": "wechat_template", "purpose": "service", "template_id": "T", "wechat_keys": ["first"],
         "data": {"first": {"value": "已发货"}}},
    )  # fmt: skip
    fid = await add_follower(db, clock, "o-r")
    now = clock.now()
    async with db.transaction() as session:
        pushes = [
            Push(follower_id=fid, appid=APPID, openid="o-r", template_version_id=version[0], template_kind=version[1],
                 purpose=version[2], status=status, due_at=now, created_at=now, journey_id=3, step_key="hello")
            for version, status in ((promo, "sent"), (promo, "sent"), (promo, "failed"), (notice, "sent"),
                                    (notice, "sent"), (notice, "pending"))
        ]  # fmt: skip
        session.add_all(pushes)
        await session.flush()
        session.add_all(
            [
                PushAttribution(push_id=pushes[0].id or 0, profile_id=1, journey_id=3, platform="tmall", order_no="A",
                                amount_fen=19_900, ordered_at=now, attributed_at=now),
                PushAttribution(push_id=pushes[1].id or 0, profile_id=1, journey_id=3, platform="tmall", order_no="B",
                                amount_fen=5_000, refunded=True, ordered_at=now, attributed_at=now),
                TemplateReceipt(appid=APPID, msg_id="1", push_id=pushes[3].id or 0, follower_id=fid, sent_at=now,
                                status="success"),
                TemplateReceipt(appid=APPID, msg_id="2", push_id=pushes[4].id or 0, follower_id=fid, sent_at=now,
                                status="failed:user block"),
                # The first promo's link opened by its recipient and by someone it was forwarded to: one delivery.
                *(LinkClick(delivery_kind="push", delivery_id=pushes[0].id or 0, template_version_id=promo[0],
                            link_index=0, target="https://shop.example/", visitor=visitor, via="browser",
                            journey_id=3, step_key="hello", clicked_at=now)
                  for visitor in ("c:a", "c:b")),
            ]
        )  # fmt: skip


async def test_figures_per_template(db: Database, clock: FakeClock) -> None:
    await _sent(db, clock)
    async with db.session() as session:
        rows = {row.template: row for row in await template_figures(session)}
    promo, shipped = rows["promo"], rows["shipped"]
    assert (promo.sent, promo.failed, promo.orders, promo.revenue_fen) == (2, 1, 2, 19_900)
    assert promo.conversion == 1.0 and (promo.clicked, promo.click_rate) == (1, 0.5)
    assert (shipped.sent, shipped.reported_delivered, shipped.reported_failed, shipped.orders) == (2, 1, 1, 0)
    async with db.session() as session:
        [journey] = await journey_report(session)
    [step] = journey["steps"]
    assert (step["sent"], step["clicked"], step["orders"]) == (4, 1, 2)
    assert (step["click_rate"], step["purchase_rate"]) == (0.25, 0.5)


def test_the_reports_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], clock: FakeClock
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SCRM_DATABASE_URL", url)
    assert main(["report", "templates", "--json"]) == 0  # migrates the new database too
    assert json.loads(capsys.readouterr().out) == {"templates": []}

    async def fill() -> None:
        db = Database(url)
        try:
            await _sent(db, clock)
            async with db.transaction() as session:
                session.add(
                    Channel(
                        appid=APPID,
                        name="静安店",
                        scene="store-42",
                        ticket="t",
                        url="http://weixin.qq.com/q/x",
                        created_at=clock.now(),
                    )
                )
                session.add(
                    Follower(
                        appid=APPID,
                        openid="o-ch",
                        channel_scene="store-42",
                        subscribed_at=clock.now(),
                        created_at=clock.now(),
                        updated_at=clock.now(),
                    )
                )
        finally:
            await db.dispose()

    asyncio.run(fill())  # fmt: skip
    assert main(["report", "templates", "--json"]) == 0
    templates = {row["template"]: row for row in json.loads(capsys.readouterr().out)["templates"]}
    assert templates["promo"]["sent"] == 2 and templates["promo"]["conversion"] == 1.0
    assert main(["channels", "list", "--json"]) == 0
    [channel] = json.loads(capsys.readouterr().out)["channels"]
    assert (channel["name"], channel["follows"], channel["bound"]) == ("静安店", 1, 0)
    png = tmp_path / "qr.png"
    assert main(["channels", "png", str(channel["id"]), "--out", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    assert main(["channels", "png", "999", "--out", str(png)]) == 2
