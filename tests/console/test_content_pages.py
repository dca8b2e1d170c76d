"""Templates (edit, validate, live preview, versions, publish) and journeys (steps, preview, toggle)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import select

from base.clock import FakeClock
from storage.db import Database
from storage.models.content import Journey, Template
from storage.models.core import AuditEntry
from tests.console import seed
from tests.console.conftest import csrf

SCRIPT_NAME = '<script>alert("name")</script>'
SCRIPT_BODY = 'kind: text\npurpose: marketing\ncontent: "<img src=x onerror=alert(1)> {{ profile.order_count }}"\n'


def _form(client: TestClient[Any, Any], **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf(client), **fields}


async def test_create_preview_publish_and_compare_versions(editor: TestClient[Any, Any], db: Database) -> None:
    created = await editor.post(
        "/console/templates/new",
        data=_form(editor, name="coupon", description="券", body=seed.TEXT_BODY_YAML, profile=""),
        allow_redirects=False,
    )
    assert created.status == 302
    page_path = created.headers["Location"].split("?")[0]
    page = await (await editor.get(page_path)).text()
    # The server-side preview renders the sample profile's name.
    assert "王小姐，欢迎回来！" in page
    assert "draft not published" in page
    published = await editor.post(page_path + "/publish", data=_form(editor), allow_redirects=False)
    assert published.status == 302
    changed = seed.TEXT_BODY_YAML.replace("欢迎回来", "好久不见")
    await editor.post(page_path, data=_form(editor, body=changed, description="券"), allow_redirects=False)
    diff = await (await editor.get(page_path + "/versions?from=1&to=2")).text()
    assert '<span class="del">-content: &#39;{{ profile.name }}，欢迎回来！&#39;</span>' in diff
    assert '<span class="add">+content: &#39;{{ profile.name }}，好久不见！&#39;</span>' in diff
    async with db.session() as session:
        template = (await session.exec(select(Template).where(Template.name == "coupon"))).one()
        actions = {entry.action for entry in (await session.exec(select(AuditEntry))).all()}
    assert template.draft_body is not None and template.current_version_id is not None
    assert {"console.template_saved", "console.template_published"} <= actions


async def test_invalid_body_is_refused_with_the_field_and_the_typing_kept(
    editor: TestClient[Any, Any], db: Database
) -> None:
    bad = "kind: text\npurpose: marketing\ncontent: 'Hi {{ profile.shoe_size }}'\n"
    answer = await editor.post("/console/templates/new", data=_form(editor, name="bad", body=bad))
    assert answer.status == 400
    html = await answer.text()
    assert "content" in html and "shoe_size" in html
    assert "profile.shoe_size" in html  # the textarea still holds what was typed
    async with db.session() as session:
        assert (await session.exec(select(Template))).first() is None


async def test_penalised_wording_and_yaml_errors_are_explained(editor: TestClient[Any, Any]) -> None:
    answer = await editor.post(
        "/console/templates/preview",
        json={"body": "kind: text\npurpose: marketing\ncontent: 关注有礼，转发有奖\n", "name": "x"},
        headers={"X-CSRF-Token": csrf(editor)},
    )
    result = await answer.json()
    assert result["ok"] is False
    assert any("penalises" in issue for issue in result["issues"])
    broken = await editor.post(
        "/console/templates/preview",
        json={"body": "kind: text\n  content: [", "name": "x"},
        headers={"X-CSRF-Token": csrf(editor)},
    )
    assert any(issue.startswith("line ") for issue in (await broken.json())["issues"])


async def test_live_preview_renders_against_a_chosen_profile(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    _follower, profile_id = await seed.person(db, clock.now(), openid="p1", phone="+8613800138009", name="李雷")
    answer = await editor.post(
        "/console/templates/preview",
        json={"body": seed.TEXT_BODY_YAML, "name": "x", "profile_id": str(profile_id)},
        headers={"X-CSRF-Token": csrf(editor)},
    )
    result = await answer.json()
    assert result == {"ok": True, "issues": [], "preview": result["preview"]}
    assert result["preview"]["text"] == "李雷，欢迎回来！"


async def test_live_preview_needs_the_csrf_header(editor: TestClient[Any, Any]) -> None:
    answer = await editor.post("/console/templates/preview", json={"body": seed.TEXT_BODY_YAML})
    assert answer.status == 403


async def test_html_in_template_name_and_body_is_shown_escaped(editor: TestClient[Any, Any]) -> None:
    created = await editor.post(
        "/console/templates/new", data=_form(editor, name=SCRIPT_NAME, body=SCRIPT_BODY), allow_redirects=False
    )
    assert created.status == 302
    listing = await (await editor.get("/console/templates")).text()
    assert SCRIPT_NAME not in listing
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in listing
    page = await (await editor.get(created.headers["Location"])).text()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


async def test_journey_page_shows_steps_results_and_preview(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    _template_id, journey_id = await seed.template_and_journey(db, now)
    follower, _profile = await seed.person(db, now, openid="j1", phone=None)
    await seed.push(db, now, follower_id=follower, journey_id=journey_id, status="sent", step_key="hello")
    await seed.push(db, now, follower_id=follower, journey_id=journey_id, status="held", step_key="again")
    html = await (await editor.get(f"/console/journeys/{journey_id}?messages=0")).text()
    assert "send welcome" in html and "wait 2d" in html
    assert "sent 1" in html and "held 1" in html
    # The content preview: the first push goes out at once, the one two days later has no window.
    assert "王小姐，欢迎回来！" in html
    preview = html.split('id="journey-preview"')[1]
    assert "badge-delivered" in preview
    assert "badge-expired" in preview or "badge-held" in preview
    listing = await (await editor.get("/console/journeys")).text()
    assert "onboarding" in listing and "enabled" in listing


async def test_disabling_a_journey_is_saved_and_audited(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    _template_id, journey_id = await seed.template_and_journey(db, clock.now())
    answer = await editor.post(f"/console/journeys/{journey_id}/enabled", data=_form(editor), allow_redirects=False)
    assert answer.status == 302
    async with db.session() as session:
        journey = await session.get(Journey, journey_id)
        audited = (await session.exec(select(AuditEntry).where(AuditEntry.action == "console.journey_disabled"))).all()
    assert journey is not None and journey.enabled is False and journey.definition["enabled"] is False
    assert journey.version == 2
    assert len(audited) == 1 and audited[0].actor == "console:eddie"
    enabled = await editor.post(
        f"/console/journeys/{journey_id}/enabled", data=_form(editor, enabled="on"), allow_redirects=False
    )
    assert enabled.status == 302


async def test_bad_preview_hours_are_reported(editor: TestClient[Any, Any], db: Database, clock: FakeClock) -> None:
    _template_id, journey_id = await seed.template_and_journey(db, clock.now())
    answer = await editor.get(f"/console/journeys/{journey_id}?messages=soon")
    assert answer.status == 200
    assert "is not a number of hours" in await answer.text()
