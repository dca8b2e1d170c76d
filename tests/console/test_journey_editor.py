"""The journey editor: the form is checked as `scrm content validate` checks a file, problems are shown
next to their fields, drafts change nothing, publishing makes a version live, versions show their
differences, and a console edit wins over an unchanged YAML file until the file changes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from base.clock import FakeClock
from console.journey_form import document, form_from_post
from content.loader import read_content_dir
from journeys.catalogue import enabled_journeys
from publishing.publish import load_bundle
from publishing.versions import template_catalog
from storage import content as store
from storage.db import Database
from tests.console import seed
from tests.console.conftest import csrf

pytestmark = pytest.mark.storage
SEED = Path(__file__).resolve().parents[2] / "content" / "seed"


def _form(client: TestClient[Any, Any], **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf(client), **fields}


CLICK_JOURNEY = {
    "title": "点击后再提醒",
    "trigger.kind": "followed",
    "reentry.policy": "never",
    "s0.order": "1", "s0.id": "offer", "s0.type": "send", "s0.template": "welcome",
    "s1.order": "2", "s1.id": "opened", "s1.type": "branch", "s1.condition.kind": "clicked",
    "s1.condition.step": "offer", "s1.condition.hours": "24", "s1.then": "done", "s1.else": "again",
    "s2.order": "3", "s2.id": "again", "s2.type": "send", "s2.template": "welcome",
    "s3.order": "4", "s3.id": "done", "s3.type": "exit",
    "s4.order": "5",
}  # fmt: skip


async def test_problems_are_shown_next_to_their_fields_and_nothing_is_saved(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    await seed.template_and_journey(db, clock.now())
    bad_hours = {**CLICK_JOURNEY, "name": "reminder", "s1.condition.hours": "0"}
    answer = await editor.post("/console/journeys/new", data=_form(editor, action="publish", **bad_hours))
    assert answer.status == 422
    page = await answer.text()
    hours = page.split('name="s1.condition.hours"')[1].split("</label>")[1]
    assert 'data-field="s1.condition.hours">must be 1 to 720 hours, got 0' in hours
    fields = {**CLICK_JOURNEY, "name": "reminder", "s1.condition.step": "nowhere", "s2.template": "no_such_template"}
    answer = await editor.post("/console/journeys/new", data=_form(editor, action="publish", **fields))
    assert answer.status == 422
    page = await answer.text()
    step = page.split('name="s1.condition.step"')[1].split("</label>")[1]
    assert "waits for a click on step &#39;nowhere&#39;, which does not exist" in step
    template = page.split('name="s2.template"')[1].split("</label>")[1]
    assert "unknown template &#39;no_such_template&#39;" in template
    assert 'value="nowhere"' in page  # what was typed is kept
    async with db.session() as session:
        assert await store.journey_by_name(session, "reminder") is None


async def test_a_draft_changes_nothing_and_publishing_makes_it_live(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    await seed.template_and_journey(db, clock.now())
    fields = {**CLICK_JOURNEY, "name": "reminder"}
    preview = await editor.post("/console/journeys/new", data=_form(editor, action="preview", **fields))
    page = await preview.text()
    assert preview.status == 200
    timeline = page.split('id="journey-preview"')[1].split("</ol>")[0]
    assert "clicked offer within 24 hours: no → again" in timeline
    draft = await editor.post(
        "/console/journeys/new", data=_form(editor, action="draft", **fields), allow_redirects=False
    )
    assert draft.status == 302 and "/edit" in draft.headers["Location"]
    async with db.session() as session:
        assert "reminder" not in [j.name for j in await enabled_journeys(session)]
        row = await store.journey_by_name(session, "reminder")
    assert row is not None and row.version == 0 and not row.enabled
    edit = await (await editor.get(f"/console/journeys/{row.id}/edit")).text()
    assert 'name="s1.condition.hours" value="24"' in edit
    published = await editor.post(
        f"/console/journeys/{row.id}/edit",
        data=_form(editor, action="publish", **{**fields, "s1.condition.hours": "48"}),
        allow_redirects=False,
    )
    assert published.status == 302
    async with db.session() as session:
        live = {j.name: j for j in await enabled_journeys(session)}
    assert live["reminder"].version == 2
    assert live["reminder"].definition.steps[1].condition.hours == 48  # type: ignore[union-attr]
    versions = await (await editor.get(f"/console/journeys/{row.id}/versions?from=1&to=2")).text()
    diff = versions.split('id="diff"')[1]
    assert re.search(r'class="del">-\s+hours: 24<', diff) and re.search(r'class="add">\+\s+hours: 48<', diff)


async def test_a_console_edit_wins_until_the_yaml_file_changes(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    await seed.template_and_journey(db, clock.now())
    content = tmp_path / "content"
    (content / "journeys").mkdir(parents=True)
    doc = {"name": "nudge", "trigger": {"kind": "followed"},
           "steps": [{"id": "hello", "type": "send", "template": "welcome"}]}  # fmt: skip
    path = content / "journeys" / "nudge.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")

    async def load() -> list[str]:
        async with db.transaction() as session:
            bundle = read_content_dir(content, known_templates=await template_catalog(session))
            report = await load_bundle(session, bundle, now=clock.now())
        return report.kept_journeys

    assert await load() == []
    async with db.session() as session:
        row = await store.journey_by_name(session, "nudge")
    assert row is not None
    fields = {"title": "edited in the console", "trigger.kind": "followed", "reentry.policy": "always",
              "s0.order": "1", "s0.id": "hello", "s0.type": "send", "s0.template": "welcome"}  # fmt: skip
    await editor.post(f"/console/journeys/{row.id}/edit", data=_form(editor, action="publish", **fields))
    page = await (await editor.get(f"/console/journeys/{row.id}")).text()
    assert "stays live when the content directory is loaded again" in page

    assert await load() == ["nudge"]  # the file did not change: the console's version stays live
    async with db.session() as session:
        kept = await store.journey_by_name(session, "nudge")
    assert (
        kept is not None and kept.title == "edited in the console" and kept.definition["reentry"]["policy"] == "always"
    )

    # A pause in the console is an edit too: it holds against the unchanged file.
    await editor.post(f"/console/journeys/{row.id}/enabled", data=_form(editor))
    assert await load() == ["nudge"]
    async with db.session() as session:
        assert "nudge" not in [j.name for j in await enabled_journeys(session)]

    path.write_text(yaml.safe_dump({**doc, "title": "changed in the file"}), encoding="utf-8")
    assert await load() == []
    async with db.session() as session:
        replaced = await store.journey_by_name(session, "nudge")
    assert replaced is not None and replaced.title == "changed in the file" and replaced.source == "yaml"
    assert replaced.version == 4 and replaced.enabled


def test_rows_are_ordered_by_their_numbers_and_deleted_or_empty_rows_are_left_out() -> None:
    form = form_from_post(
        {
            "name": "j", "trigger.kind": "followed",
            "s0.order": "2", "s0.id": "later", "s0.type": "send", "s0.template": "welcome",
            "s1.order": "1", "s1.id": "first", "s1.type": "wait", "s1.duration": "1d", "s1.template": "ignored",
            "s2.order": "3", "s2.id": "gone", "s2.type": "exit", "s2.delete": "on",
            "s3.order": "4",
        }
    )  # fmt: skip
    doc, rows = document(form)
    assert [step["id"] for step in doc["steps"]] == ["first", "later"] and rows == [1, 0]
    assert doc["steps"][0] == {"id": "first", "type": "wait", "duration": "1d"}  # a wait keeps no template


async def test_two_saves_at_the_same_moment_lose_nothing_and_answer_clearly(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _template_id, journey_id = await seed.template_and_journey(db, clock.now())
    fields = {
        "trigger.kind": "followed",
        "s0.order": "1",
        "s0.id": "hello",
        "s0.type": "send",
        "s0.template": "welcome",
    }
    first = await editor.post(
        f"/console/journeys/{journey_id}/edit", data=_form(editor, action="draft", **fields), allow_redirects=False
    )
    assert first.status == 302

    async def stale(_session: Any, _journey_id: int) -> int:
        return 0  # as the other save read it, before this one's draft was committed

    monkeypatch.setattr("publishing.journey_versions.last_version_number", stale)
    second = await editor.post(
        f"/console/journeys/{journey_id}/edit", data=_form(editor, action="draft", **{**fields, "title": "mine"})
    )
    assert second.status == 409
    page = await second.text()
    assert "Someone else saved this journey at the same moment" in page and 'value="mine"' in page


async def test_the_seed_journey_with_its_click_branch_opens_in_the_editor_and_saves_unchanged(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    async with db.transaction() as session:
        await load_bundle(session, read_content_dir(SEED), now=clock.now())
        row = await store.journey_by_name(session, "new_follower")
    assert row is not None
    page = await (await editor.get(f"/console/journeys/{row.id}/edit")).text()
    assert 'name="s5.condition.kind"' in page and '<option value="clicked" selected>' in page
    assert 'name="s5.condition.step" value="product_info"' in page and 'name="s5.condition.hours" value="48"' in page
    # Sent back as shown, the form is the same journey: the check passes and the timeline is drawn.
    fields = dict(re.findall(r'<input name="([^"]+)" value="([^"]*)"', page))
    chosen = r'<select name="([^"]+)"[^>]*>(?:(?!</select>).)*?<option value="([^"]*)" selected>'
    fields.update(re.findall(chosen, page, re.DOTALL))
    answer = await editor.post(f"/console/journeys/{row.id}/edit", data=_form(editor, action="preview", **fields))
    assert answer.status == 200
    assert "opened_products" in (await answer.text()).split('id="journey-preview"')[1]
