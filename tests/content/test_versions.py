"""Template versions: drafts, published versions that never change, unchanged saves, rendering a version."""

from __future__ import annotations

import pytest

from base.clock import FakeClock
from content.fields import sample_context
from content.issues import ContentError
from publishing.versions import current_version, get_version, publish_draft, render_version, save_template
from storage import content as store
from storage.db import Database
from wechat.replies import TextReply


def _text(content: str) -> dict[str, object]:
    return {"kind": "text", "content": content, "fallbacks": {"profile.name": "朋友"}}


@pytest.mark.storage
async def test_every_save_of_a_published_template_makes_a_new_version(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as session:
        first = await save_template(session, "hello", _text("你好 {{ profile.name }}"), now=clock.now(), by="amy")
    clock.advance(minutes=5)
    async with db.transaction() as session:
        second = await save_template(session, "hello", _text("您好 {{ profile.name }}"), now=clock.now(), by="bo")
    assert (first.version.version, second.version.version) == (1, 2)
    assert first.version.id != second.version.id
    async with db.session() as session:
        old = await get_version(session, first.version.id or 0)
        now_current = await current_version(session, "hello")
    assert old is not None and old.state == "published"
    # A push that recorded version 1 renders exactly version 1.
    assert render_version(old, sample_context()).reply == TextReply("你好 王小姐")
    assert now_current is not None and now_current.version == 2 and now_current.created_by == "bo"


@pytest.mark.storage
async def test_an_unchanged_save_makes_no_version(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as session:
        await save_template(session, "hello", _text("你好 {{ profile.name }}"), now=clock.now())
    async with db.transaction() as session:
        again = await save_template(session, "hello", _text("你好 {{ profile.name }}"), now=clock.now())
    assert not again.changed and again.version.version == 1


@pytest.mark.storage
async def test_drafts_are_edited_in_place_until_published(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as session:
        await save_template(session, "hello", _text("v1 {{ profile.name }}"), now=clock.now())
        await save_template(session, "hello", _text("draft a"), now=clock.now(), publish=False)
        draft = await save_template(session, "hello", _text("draft b"), now=clock.now(), publish=False)
    assert draft.version.version == 2 and draft.version.state == "draft"
    assert draft.template.draft_body is not None and draft.template.draft_body["content"] == "draft b"
    async with db.session() as session:
        live = await current_version(session, "hello")
    assert live is not None and live.version == 1  # pushes keep sending the published text
    async with db.transaction() as session:
        published = await publish_draft(session, "hello", now=clock.now(), by="amy")
        versions = await store.list_versions(session, published.template.id or 0)
    assert published.version.version == 2 and published.template.draft_body is None
    assert [(v.version, v.state) for v in versions] == [(1, "published"), (2, "published")]
    async with db.transaction() as session:
        with pytest.raises(ContentError, match="already published"):
            await publish_draft(session, "hello", now=clock.now())


@pytest.mark.storage
async def test_a_refused_template_writes_nothing(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as session:
        with pytest.raises(ContentError) as refused:
            await save_template(session, "bad", {"kind": "text", "content": "{{ profile.nick }}"}, now=clock.now())
    assert refused.value.issues[0].field == "content"
    async with db.session() as session:
        assert await store.template_by_name(session, "bad") is None
