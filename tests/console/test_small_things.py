"""Small things a user hit: the favicon, and junk in the journey simulator's fields."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from base.clock import FakeClock
from console.journey_inputs import parse_simulator_inputs
from storage.db import Database
from tests.console import seed


async def test_the_favicon_is_a_real_icon(anonymous: TestClient[Any, Any]) -> None:
    answer = await anonymous.get("/favicon.ico")
    assert answer.status == 200
    body = await answer.read()
    assert body[:4] == b"\x00\x00\x01\x00" and len(body) < 2048  # an ICO directory, small
    assert "icon" in answer.headers["Content-Type"]
    page = await (await anonymous.get("/console/login")).text()
    assert '<link rel="icon" href="/favicon.ico"' in page


def test_every_bad_value_of_the_simulator_is_named() -> None:
    inputs = parse_simulator_inputs(
        {"messages": "1, soon,2，9999, nan", "purchase": "3,5", "profile": "abc", "hours": "2"}
    )
    assert inputs.messages == [1.0, 2.0] and inputs.purchase == 3.0 and inputs.profile_id is None
    assert inputs.problem_lines == [
        "Follower writes after: “soon” is not a number of hours",
        "Follower writes after: “9999” is outside 0 to 1440 hours",
        "Follower writes after: “nan” is outside 0 to 1440 hours",
        "Buys after: give one purchase time, not 2",
        "Profile: “abc” is not a profile number",
        "hours: unknown field “hours”",
    ]
    clean = parse_simulator_inputs({"messages": "0, 24", "purchase": "", "profile": "7"})
    assert clean.problems == {} and clean.messages == [0.0, 24.0] and clean.profile_id == 7


async def test_the_journey_page_lists_the_junk_and_keeps_what_was_typed(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    _template_id, journey_id = await seed.template_and_journey(db, clock.now())
    answer = await editor.get(f"/console/journeys/{journey_id}?messages=1,abc&purchase=2,3&profile=999")
    page = await answer.text()
    errors = page.split('id="simulator-errors"')[1].split("</ul>")[0]
    assert "“abc” is not a number of hours" in errors
    assert "give one purchase time, not 2" in errors
    assert "no profile #999" in errors
    assert 'name="messages" value="1,abc" aria-invalid="true"' in page
    assert 'name="purchase" value="2,3" aria-invalid="true"' in page
    # The timeline is still drawn from what could be read.
    assert page.split('id="journey-preview"')[1].count("<li") >= 3
    fine = await (await editor.get(f"/console/journeys/{journey_id}?messages=0")).text()
    assert 'id="simulator-errors"' not in fine and "aria-invalid" not in fine


def test_the_simulator_reads_clicks_per_send_step_and_names_the_wrong_ones() -> None:
    inputs = parse_simulator_inputs({"clicks": "offer, again:30, nope, offer:soon"}, ["offer", "again"])
    assert inputs.clicks == {"offer": 1.0, "again": 30.0}
    assert inputs.problem_lines == [
        "Clicks: “nope” is not a send step of this journey (offer, again)",
        "Clicks: “soon” is not a number of hours",
    ]
