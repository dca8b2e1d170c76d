"""Mass sends in the console: preview with the audience count, schedule in China time, the monthly counter
refusing a fifth, cancelling, and WeChat's results per send."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import select

from base.clock import CHINA, FakeClock
from storage import mass_sends as store
from storage.db import Database
from storage.engagement import record_mass_send_result
from storage.models.pushes import MassSend
from tests.console.conftest import csrf
from tests.journeys.helpers import add_follower, add_template
from tests.journeys.test_mass_send_and_jobs import MASS_NEWS

TEXT = {"kind": "text", "purpose": "marketing", "content": "hi"}


def _form(client: TestClient[Any, Any], **fields: str) -> dict[str, str]:
    base = {"csrf_token": csrf(client), "name": "三月新品", "target": "all", "template": "march", "when": "now"}
    return base | fields


async def _plans(db: Database) -> list[MassSend]:
    async with db.session() as session:
        return list((await session.exec(select(MassSend).order_by(MassSend.id))).all())  # type: ignore[arg-type]


async def test_preview_counts_the_audience_and_renders_the_news(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    await add_template(db, clock, "march", MASS_NEWS)
    await add_template(db, clock, "chat", TEXT)
    for openid, consent in (("o-1", True), ("o-2", True), ("o-3", False)):
        await add_follower(db, clock, openid, consent=consent)
    page = await (await editor.get("/console/mass-sends")).text()
    assert "This month: 0 of 4 mass sends" in page
    assert "<option>march</option>" in page and "chat" not in page  # only news templates can be mass-sent
    answer = await editor.post("/console/mass-sends", data=_form(editor, action="preview"))
    page = await answer.text()
    assert answer.status == 200
    assert "2 followers would receive it" in page and "of 3 following, 2 with marketing consent" in page
    assert "三月新品" in page  # the article's title, rendered
    assert await _plans(db) == []


async def test_schedule_in_china_time_then_cancel(editor: TestClient[Any, Any], db: Database, clock: FakeClock) -> None:
    await add_template(db, clock, "march", MASS_NEWS)
    at = (clock.now() + timedelta(days=2)).astimezone(CHINA).replace(second=0, microsecond=0)
    answer = await editor.post(
        "/console/mass-sends",
        data=_form(editor, action="schedule", when="later", at=at.strftime("%Y-%m-%dT%H:%M"), target="saved:none"),
    )
    assert answer.status == 400 and "Choose who receives it" in await answer.text()
    answer = await editor.post(
        "/console/mass-sends",
        data=_form(editor, action="schedule", when="later", at=at.strftime("%Y-%m-%dT%H:%M"), tag="会员"),
    )
    page = await answer.text()
    assert answer.status == 200 and "Mass send planned." in page and "This month: 1 of 4" in page
    [plan] = await _plans(db)
    assert (plan.segment, plan.scheduled_at, plan.status) == ("tag:会员", at, "scheduled")
    assert at.strftime("%Y-%m-%d %H:%M") in page  # shown in China time
    answer = await editor.post(f"/console/mass-sends/{plan.id}/cancel", data={"csrf_token": csrf(editor)})
    assert "Mass send cancelled." in await answer.text()
    assert [p.status for p in await _plans(db)] == ["cancelled"]
    again = await editor.post(f"/console/mass-sends/{plan.id}/cancel", data={"csrf_token": csrf(editor)})
    assert again.status == 409 and "Only a mass send still waiting" in await again.text()


async def test_a_fifth_send_in_a_month_is_refused_and_past_times_too(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    await add_template(db, clock, "march", MASS_NEWS)
    for number in range(4):
        answer = await editor.post("/console/mass-sends", data=_form(editor, action="schedule", name=f"s{number}"))
        assert answer.status == 200
    answer = await editor.post("/console/mass-sends", data=_form(editor, action="schedule", name="fifth"))
    page = await answer.text()
    assert answer.status == 409
    assert "This account already has 4 mass sends in that month: WeChat allows 4 a month." in page
    assert len(await _plans(db)) == 4
    past = (clock.now() - timedelta(hours=1)).astimezone(CHINA).strftime("%Y-%m-%dT%H:%M")
    answer = await editor.post("/console/mass-sends", data=_form(editor, action="schedule", when="later", at=past))
    assert answer.status == 400 and "That time has passed" in await answer.text()


async def test_results_show_what_wechat_reported(editor: TestClient[Any, Any], db: Database, clock: FakeClock) -> None:
    await add_template(db, clock, "march", MASS_NEWS)
    await editor.post("/console/mass-sends", data=_form(editor, action="schedule"))
    [plan] = await _plans(db)
    assert plan.id is not None
    async with db.transaction() as session:
        batch = await store.add_batch(session, plan.id, 1, [(1, "o-1"), (2, "o-2")], "2026-01")
        batch.msg_id, batch.status = "2001", "sent"
        session.add(batch)
        stored = await session.get(MassSend, plan.id)
        assert stored is not None
        stored.status, stored.recipients = "sent", 2
        session.add(stored)
        await record_mass_send_result(
            session, appid=plan.appid, msg_id="2001", status="send success",
            counts={"total_count": 2, "filter_count": 2, "sent_count": 1, "error_count": 1}, at=clock.now(),
        )  # fmt: skip
    page = await (await editor.get("/console/mass-sends")).text()
    row = page[page.index(f'id="plan-{plan.id}"') :]
    row = row[: row.index("</tr>")]
    cells = [cell.split(">")[-1] for cell in row.split("</td>")]
    assert cells[6:11] == ["2", "0", "1", "1", "2"]
