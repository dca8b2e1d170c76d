"""Pages that show what the engine stored, read by a Chinese and an English user: reasons of pushes and
runs, rejected rows and failed imports, failed mass sends, and the findings of the editors."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from base.clock import FakeClock
from base.i18n import load_translations, use_translations
from base.metrics import JobStatus, SchedulerStatus
from console.imports_runner import IMPORTS
from console.journey_form import JourneyForm, place_issues
from console.language import LOCALE_DIR
from console.queries.imports import failed_import_entry
from content.journey_checks import validate_journey
from handlers.context import Services
from orders.importer import ImportOptions, import_file
from storage.console import create_user
from storage.db import Database
from storage.models.pushes import MassSend
from tests.console import seed
from tests.console.conftest import ADMIN_PASSWORD, _hash, sign_in
from tests.console.test_imports import tmall_export, upload_form
from tests.journeys.helpers import add_template
from tests.journeys.test_mass_send_and_jobs import MASS_NEWS
from tests.support.catalogs import untranslated

GAVE_UP = "gave up after 5 attempts: WeChat 45015: response out of time limit or subscription is canceled"


@dataclass(frozen=True)
class Reader:
    client: TestClient[Any, Any]
    token: str


async def _reader(aiohttp_client: Any, app: web.Application, db: Database, clock: FakeClock, locale: str) -> Reader:
    name = f"reader_{locale.lower()}"
    async with db.transaction() as session:
        await create_user(
            session, name=name, role="admin", password_hash=_hash(ADMIN_PASSWORD), now=clock.now(), locale=locale
        )
    client: TestClient[Any, Any] = await aiohttp_client(app)
    return Reader(client, await sign_in(client, name, ADMIN_PASSWORD))


async def _both(
    aiohttp_client: Any, app: web.Application, db: Database, clock: FakeClock
) -> tuple[TestClient[Any, Any], TestClient[Any, Any]]:
    """A Chinese and an English admin, signed in."""
    chinese, english = await _pair(aiohttp_client, app, db, clock)
    return chinese.client, english.client


async def _pair(aiohttp_client: Any, app: web.Application, db: Database, clock: FakeClock) -> tuple[Reader, Reader]:
    return (
        await _reader(aiohttp_client, app, db, clock, "zh_CN"),
        await _reader(aiohttp_client, app, db, clock, "en"),
    )


async def test_push_and_run_reasons_in_both_languages(
    aiohttp_client: Any, console_root: web.Application, db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    _template_id, journey_id = await seed.template_and_journey(db, now)
    follower_id, profile_id = await seed.person(db, now, openid="o1", phone="+8613800138000", name="王芳", orders=1)
    for status, reason in (
        ("failed", GAVE_UP),
        ("skipped", "no marketing consent"),
        ("cancelled", "follower is unsubscribed (43004)"),
        ("expired", "quiet hours; expired before it could be sent"),
        ("held", "a reason from a newer engine"),
    ):
        await seed.push(
            db, now, follower_id=follower_id, journey_id=journey_id, status=status, reason=reason,
            profile_id=profile_id,
        )  # fmt: skip
    await seed.run(
        db, now, journey_id=journey_id, follower_id=follower_id, profile_id=profile_id, state="goal_reached",
        end_reason="goal: first_purchase",
    )  # fmt: skip
    chinese, english = await _both(aiohttp_client, console_root, db, clock)
    for path in ("/console/deliveries", f"/console/profiles/{profile_id}"):
        page = await (await chinese.get(path)).text()
        assert "尝试 5 次后放弃：微信错误 45015：response out of time limit or subscription is canceled" in page
        assert "未授权营销消息" in page and "粉丝状态：已取关（43004）" in page
        assert "免打扰时段；未能在过期前发出" in page
        assert "a reason from a newer engine" in page  # unknown: shown as stored
        assert untranslated(page) == [], path
        page = await (await english.get(path)).text()
        assert GAVE_UP in page and "no marketing consent" in page and "follower is unfollowed (43004)" in page
    profile = await (await chinese.get(f"/console/profiles/{profile_id}")).text()
    assert "达成目标 (达成目标：首次购买)" in profile
    english_profile = await (await english.get(f"/console/profiles/{profile_id}")).text()
    assert "goal reached (goal reached: first purchase)" in english_profile


async def test_rejected_rows_and_failed_imports_in_both_languages(
    aiohttp_client: Any, console_root: web.Application, services: Services, db: Database, clock: FakeClock,
    tmp_path: Path,
) -> None:  # fmt: skip
    export = tmp_path / "ExportOrderList.csv"
    export.write_bytes(tmall_export(rows=5, bad=2))
    report = await import_file(
        db, services.settings, export, clock=clock, options=ImportOptions(platform="auto", actor="console:li")
    )
    async with db.transaction() as session:
        session.add(
            failed_import_entry(
                at=clock.now(),
                actor="console:li",
                file_name="empty.csv",
                platform="auto",
                started_at=clock.now() - timedelta(seconds=3),
                error="empty.csv is empty",
            )  # fmt: skip
        )
    chinese, english = await _both(aiohttp_client, console_root, db, clock)
    page = await (await chinese.get(f"/console/imports/{report.run_id}")).text()
    assert page.count("缺少订单编号") == 3  # the count by reason, and each of the two rows
    assert page.count("订单编号为空") == 2 and "missing_order_no" not in page
    assert untranslated(page) == []
    page = await (await english.get(f"/console/imports/{report.run_id}")).text()
    assert page.count("order number missing") == 3 and page.count("the order number is empty") == 2
    listing = await (await chinese.get("/console/imports")).text()
    assert "empty.csv 是空文件" in listing and untranslated(listing) == []
    assert "empty.csv is empty" in await (await english.get("/console/imports")).text()
    # The CSV is for machines and spreadsheets: the codes and the engine's words, in any language.
    rejects = await (await chinese.get(f"/console/imports/{report.run_id}/rejects.csv")).text()
    assert "missing_order_no" in rejects and "the order number is empty" in rejects


async def test_a_failed_mass_send_in_both_languages(
    aiohttp_client: Any, console_root: web.Application, db: Database, clock: FakeClock
) -> None:
    version_id, _kind, _purpose = await add_template(db, clock, "march", MASS_NEWS)
    async with db.transaction() as session:
        session.add(
            MassSend(
                name="三月新品",
                appid=seed.APPID,
                template_version_id=version_id,
                segment="saved:vip",
                scheduled_at=clock.now(),
                status="failed",
                error="saved segment 'vip' no longer exists",
                created_at=clock.now(),
            )  # fmt: skip
        )
    chinese, english = await _both(aiohttp_client, console_root, db, clock)
    page = await (await chinese.get("/console/mass-sends")).text()
    assert "已保存的人群 &#39;vip&#39; 已不存在" in page and untranslated(page) == []
    assert "saved segment &#39;vip&#39; no longer exists" in await (await english.get("/console/mass-sends")).text()


async def test_editors_findings_in_chinese(
    aiohttp_client: Any, console_root: web.Application, db: Database, clock: FakeClock
) -> None:
    zh_reader, en_reader = await _pair(aiohttp_client, console_root, db, clock)
    chinese, english = zh_reader.client, en_reader.client
    bad = "kind: text\npurpose: marketing\ncontent: 'Hi {{ profile.shoe_size }} 关注有礼'\n"
    form = {"csrf_token": zh_reader.token, "name": "t", "body": bad}
    answer = await chinese.post("/console/templates/new", data=form)
    page = await answer.text()
    assert answer.status == 400
    assert "content: 未知字段 profile.shoe_size（可用字段：" in page
    assert "content: 微信会处罚的措辞：关注有礼（诱导关注或分享）" in page
    assert untranslated(page) == []
    preview = await chinese.post(
        "/console/templates/preview", json={"body": "kind: text\npurpose: often\ncontent: hi\n", "name": "x"},
        headers={"X-CSRF-Token": zh_reader.token},
    )  # fmt: skip
    issues = (await preview.json())["issues"]
    assert issues == ["purpose: 应为以下之一：marketing / service"], issues
    menu = "button:\n  - name: 一个很长很长的按钮名称\n    type: click\n    key: A\n"
    answer = await chinese.post("/console/menu", data={"csrf_token": zh_reader.token, "menu": menu, "action": "save"})
    page = await answer.text()
    assert "按钮 1（一个很长很长的按钮名称）：名称为 33 字节，最多 16 字节" in page and untranslated(page) == []
    answer = await english.post("/console/menu", data={"csrf_token": en_reader.token, "menu": menu, "action": "save"})
    assert "button 1 (一个很长很长的按钮名称): the name is 33 bytes, at most 16" in await answer.text()


async def test_the_engine_panel_names_jobs_and_their_errors_in_chinese(
    aiohttp_client: Any, console_root: web.Application, services: Services, db: Database, clock: FakeClock
) -> None:
    stalled = JobStatus("dispatch_tick", 5.0, 42.0, 7, 3, "cancelled (stalled)", stalled=True)
    failing = JobStatus("scan_segments", 900.0, 1.0, 4, 1, "OperationalError: database is locked", stalled=False)
    services.probes.scheduler = lambda: SchedulerStatus(True, "host:1:abc", False, (stalled, failing))
    chinese, english = await _both(aiohttp_client, console_root, db, clock)
    page = await (await chinese.get("/console/")).text()
    assert "<td>发送到期推送</td>" in page and "<td>重新计算分层</td>" in page and "dispatch_tick" not in page
    assert "已取消（停滞）" in page
    assert "OperationalError: database is locked" in page  # the exception's own words
    assert untranslated(page) == []
    page = await (await english.get("/console/")).text()
    assert "<td>send due pushes</td>" in page and "cancelled (stalled)" in page


def test_journey_findings_are_placed_by_their_field_in_the_readers_language() -> None:
    _definition, issues = validate_journey(
        {"name": "j", "trigger": {"kind": "followed"},
         "steps": [{"type": "send", "id": "a", "template": "gone", "next": "nowhere"}]},
        "journey j", templates={},
    )  # fmt: skip
    form = JourneyForm()

    def place() -> None:
        use_translations(load_translations(LOCALE_DIR, "zh_CN"))
        place_issues(form, issues, [3])

    contextvars.Context().run(place)
    assert form.errors == {"s3.next": ["跳转到步骤 'nowhere'，但该步骤不存在"], "s3.template": ["未知模板 'gone'"]}


async def test_a_failed_upload_reads_in_chinese_on_its_page_in_its_progress_and_in_the_list(
    aiohttp_client: Any, console_root: web.Application, console_app: web.Application, db: Database, clock: FakeClock
) -> None:
    zh_reader, _en_reader = await _pair(aiohttp_client, console_root, db, clock)
    chinese = zh_reader.client
    answer = await chinese.post(
        "/console/imports",
        data=upload_form(zh_reader.token, b"\x00\x01\x02 not an export", name="junk-export.csv"),
        allow_redirects=False,
    )
    job_path = answer.headers["Location"]
    await console_app[IMPORTS].wait(job_path.rsplit("/", 1)[-1])
    expected = "junk-export.csv 含有二进制数据，不是 CSV 或 XLSX 导出文件"
    assert (await (await chinese.get(job_path + ".json")).json())["error"] == expected
    for path in (job_path, "/console/imports"):
        page = await (await chinese.get(path)).text()
        assert expected in page and untranslated(page) == [], path
