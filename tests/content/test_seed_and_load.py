"""Loading content directories: the Chinese demo seed, idempotent reloads, refusals that write nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import content
from base.clock import FakeClock
from content.loader import read_content_dir
from publishing.publish import load_bundle
from publishing.versions import template_catalog
from storage import content as store
from storage.db import Database

SEED = Path(content.__file__).parent / "seed"


def test_the_seed_passes_validation_and_covers_the_whole_journey() -> None:
    bundle = read_content_dir(SEED)
    assert bundle.issues == []
    assert {"new_follower", "after_purchase"} <= set(bundle.journeys)
    kinds = {loaded.body.kind for loaded in bundle.templates.values()}
    assert kinds == {"text", "news", "wechat_template", "mass_news"}
    assert {spec.kind for spec in bundle.replies} == {"welcome", "keyword", "menu", "scan", "help"}
    links = str([loaded.body for loaded in bundle.templates.values()])
    assert "https://chayu.tmall.com/" in links and "https://chayu.jd.com/" in links


@pytest.mark.storage
async def test_loading_twice_leaves_unchanged_content_untouched(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as session:
        first = await load_bundle(session, read_content_dir(SEED), now=clock.now())
    assert first.templates["new"] == 17 and first.journeys["new"] == 2 and first.codes_added == 40
    clock.advance(hours=1)
    async with db.transaction() as session:
        again = await load_bundle(session, read_content_dir(SEED), now=clock.now())
    assert again.templates["unchanged"] == 17 and again.journeys["unchanged"] == 2 and again.codes_added == 0
    async with db.session() as session:
        journey = await store.journey_by_name(session, "new_follower")
    assert journey is not None and journey.version == 1


@pytest.mark.storage
async def test_a_changed_file_makes_a_new_version_of_that_template_only(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    copy = tmp_path / "seed"
    shutil.copytree(SEED, copy)
    async with db.transaction() as session:
        await load_bundle(session, read_content_dir(copy), now=clock.now())
    path = copy / "templates" / "welcome.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("欢迎从茶语门店", "欢迎光临茶语门店"), encoding="utf-8")
    async with db.transaction() as session:
        report = await load_bundle(session, read_content_dir(copy), now=clock.now())
        template = await store.template_by_name(session, "welcome_store")
        assert template is not None and template.id is not None
        versions = await store.list_versions(session, template.id)
    assert (report.templates["updated"], report.templates["unchanged"]) == (1, 16)
    assert [v.version for v in versions] == [1, 2]


@pytest.mark.storage
async def test_a_journey_may_send_templates_already_in_the_database(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    async with db.transaction() as session:
        await load_bundle(session, read_content_dir(SEED), now=clock.now())
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "j.yaml").write_text(
        "name: reminder\ntrigger: {kind: phone_bound}\nsteps:\n  - {id: s, type: send, template: cross_sell, "
        "store_link: 'https://chayu.tmall.com/'}\n",
        encoding="utf-8",
    )
    assert "unknown template 'cross_sell'" in str(read_content_dir(tmp_path).issues)
    async with db.session() as session:
        catalog = await template_catalog(session)
    assert read_content_dir(tmp_path, known_templates=catalog).issues == []


def test_bad_yaml_and_missing_directories_are_reported(tmp_path: Path) -> None:
    assert "no such content directory" in str(read_content_dir(tmp_path / "nope").issues)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "broken.yaml").write_text("name: x\nkind: [text\n", encoding="utf-8")
    [issue] = read_content_dir(tmp_path).issues
    assert issue.where.endswith("templates/broken.yaml") and "not valid YAML" in issue.message
    assert issue.line == 3  # the list is still open when the file ends
