"""Uploading an order export: streamed, imported in the background, progress, report, rejects as CSV."""

from __future__ import annotations

import csv
import io
import tempfile
from html import escape
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient

from console.imports_runner import IMPORTS
from console.views import imports as imports_view
from storage.db import Database
from storage.models.orders import ImportRun
from tests.console.conftest import csrf

HEADERS = [
    "订单编号",
    "买家会员名",
    "买家实际支付金额",
    "订单状态",
    "收货人姓名",
    "收货地址 ",
    "联系手机",
    "订单创建时间",
    "宝贝标题 ",
]


def tmall_export(rows: int = 30, bad: int = 2) -> bytes:
    """A small Tmall export in GB18030 with `bad` rows that have no order number (rejected)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    for number in range(rows):
        writer.writerow(
            [f'="2025{number:010d}"', f"buyer{number}", "99.00", "交易成功", "张三", "浙江省 杭州市 文三路1号",
             f"1380013{number:04d}", "2025-12-01 10:00:00", "面霜"]
        )  # fmt: skip
    for _ in range(bad):
        writer.writerow(
            ["", "nobody", "99.00", "交易成功", "李四", "上海市", "13900000000", "2025-12-01 10:00:00", "面霜"]
        )
    return buffer.getvalue().encode("gb18030")


def upload_form(
    token: str | None, content: bytes, *, platform: str = "auto", name: str = "ExportOrderList.csv"
) -> FormData:
    form = FormData()
    if token is not None:
        form.add_field("csrf_token", token)
    form.add_field("platform", platform)
    form.add_field("file", content, filename=name, content_type="text/csv")
    return form


def uploads_left() -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob("scrm-upload-*"))


async def test_upload_runs_in_the_background_and_reports_rejects(
    admin: TestClient[Any, Any], console_app: web.Application, db: Database
) -> None:
    before = set(uploads_left())
    answer = await admin.post(
        "/console/imports",
        data=upload_form(csrf(admin), tmall_export()),
        allow_redirects=False,
    )
    assert answer.status == 302
    job_path = answer.headers["Location"]
    job_id = job_path.rsplit("/", 1)[-1]
    tracker = console_app[IMPORTS]
    await tracker.wait(job_id)
    progress = await (await admin.get(job_path + ".json")).json()
    assert progress["state"] == "done", progress
    assert progress["percent"] == 100 and progress["rows_done"] == 32
    report = await admin.get(job_path)
    html = await report.text()
    assert str(report.url).endswith(f"/console/imports/{progress['run_id']}")
    assert '<span class="value" id="rejected-count">2</span>' in html
    assert "ExportOrderList.csv" in html
    rejects = await admin.get(f"/console/imports/{progress['run_id']}/rejects.csv")
    assert rejects.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO((await rejects.read()).decode("utf-8-sig"))))
    assert rows[0][:3] == ["line", "reason", "detail"]
    assert len(rows) == 3
    assert all(row[0].isdigit() for row in rows[1:])
    async with db.session() as session:
        run = await session.get(ImportRun, progress["run_id"])
    assert run is not None and run.actor == "console:alice" and run.orders_created == 30
    assert set(uploads_left()) <= before  # the temporary file is gone


async def test_script_upload_gets_json_with_the_progress_address(
    admin: TestClient[Any, Any], console_app: web.Application
) -> None:
    answer = await admin.post(
        "/console/imports",
        data=upload_form(None, tmall_export(rows=3, bad=0)),
        headers={"X-CSRF-Token": csrf(admin), "Accept": "application/json"},
    )
    assert answer.status == 202
    body = await answer.json()
    assert body["progress_url"].startswith("/console/imports/jobs/")
    await console_app[IMPORTS].wait(body["job_id"])


async def test_upload_without_csrf_token_stores_nothing(admin: TestClient[Any, Any], db: Database) -> None:
    before = set(uploads_left())
    answer = await admin.post("/console/imports", data=upload_form(None, tmall_export()))
    assert answer.status == 403
    assert set(uploads_left()) <= before
    async with db.session() as session:
        assert await session.get(ImportRun, 1) is None


async def test_too_large_upload_is_refused_and_removed(
    admin: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports_view, "MAX_IMPORT_BYTES", 1000)
    before = set(uploads_left())
    answer = await admin.post("/console/imports", data=upload_form(csrf(admin), tmall_export(rows=200)))
    assert answer.status == 413
    assert "larger than the limit" in await answer.text()
    assert set(uploads_left()) <= before


async def test_junk_file_fails_with_the_importers_message(
    admin: TestClient[Any, Any], console_app: web.Application
) -> None:
    answer = await admin.post(
        "/console/imports",
        data=upload_form(csrf(admin), b"\x00\x01\x02 not an export"),
        allow_redirects=False,
    )
    job_path = answer.headers["Location"]
    await console_app[IMPORTS].wait(job_path.rsplit("/", 1)[-1])
    progress = await (await admin.get(job_path + ".json")).json()
    assert progress["state"] == "failed" and progress["error"]
    page = await (await admin.get(job_path)).text()
    assert progress["error"].split(":")[0] in page.replace("&#39;", "'")


async def test_an_editor_cannot_upload(editor: TestClient[Any, Any]) -> None:
    answer = await editor.post("/console/imports", data=upload_form(csrf(editor), tmall_export()))
    assert answer.status == 403


async def test_a_failed_import_is_listed_under_recent_imports_with_its_error(
    admin: TestClient[Any, Any], console_app: web.Application
) -> None:
    answer = await admin.post(
        "/console/imports",
        data=upload_form(csrf(admin), b"\x00\x01\x02 not an export", name="junk-export.csv"),
        allow_redirects=False,
    )
    job_path = answer.headers["Location"]
    await console_app[IMPORTS].wait(job_path.rsplit("/", 1)[-1])
    error = (await (await admin.get(job_path + ".json")).json())["error"]
    page = await (await admin.get("/console/imports")).text()
    recent = page[page.index("Recent imports") :]
    assert "No import yet" not in recent
    row = next(line for line in recent.split("<tr") if "junk-export.csv" in line)
    assert "failed" in row
    assert escape(error) in row
