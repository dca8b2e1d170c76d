"""Coupon pools in the console: a pool is created, codes pasted or uploaded, and nothing is lost unreported."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlmodel import select

from base.clock import FakeClock
from publishing.coupons import pool_statuses
from storage.db import Database
from storage.models.core import AuditEntry
from tests.console.conftest import csrf


async def _pool(client: TestClient[Any, Any], name: str = "spring", mark: str = "2") -> int:
    answer = await client.post(
        "/console/coupons",
        data={"csrf_token": csrf(client), "name": name, "description": "春季 8 折", "low_water_mark": mark},
    )
    assert answer.status == 200
    found = re.search(r'id="pool-(\d+)"', await answer.text())
    assert found
    return int(found.group(1))


async def test_an_editor_creates_a_pool_and_pastes_codes_with_repeats_and_blank_lines(
    editor: TestClient[Any, Any], db: Database
) -> None:
    pool_id = await _pool(editor)
    pasted = "A1\n\nA2\nA1\n  \nA3\nA4\n"
    answer = await editor.post(f"/console/coupons/{pool_id}/codes", data={"csrf_token": csrf(editor), "codes": pasted})
    page = await answer.text()
    assert answer.status == 200
    assert "4 new codes added." in page
    assert "1 code repeats an earlier line and was loaded once:" in page and "line 4: A1" in page
    assert "2 blank lines skipped:" in page and "2, 5" in page
    # The same list again adds nothing and says so.
    again = await editor.post(f"/console/coupons/{pool_id}/codes", data={"csrf_token": csrf(editor), "codes": "A1\nA5"})
    assert "1 new code added." in await again.text() and "1 code was already in the pool." in await again.text()
    async with db.session() as session:
        [status] = await pool_statuses(session)
    assert (status.total, status.free, status.low_stock) == (5, 5, False)


async def test_a_csv_upload_with_a_bad_code_loads_nothing_and_names_the_line(
    admin: TestClient[Any, Any], db: Database
) -> None:
    pool_id = await _pool(admin, "vip")
    form = FormData()
    form.add_field("csrf_token", csrf(admin))
    form.add_field("file", "券码,备注\nV1,a\nV 2,b\nV3,c\n".encode(), filename="codes.csv", content_type="text/csv")
    answer = await admin.post(f"/console/coupons/{pool_id}/upload", data=form)
    page = await answer.text()
    assert answer.status == 400
    assert "Nothing was loaded: 1 line is not a code" in page and "line 3: V 2" in page
    assert "The first line was read as a column header." in page
    async with db.session() as session:
        [status] = await pool_statuses(session)
    assert status.total == 0

    fixed = FormData()
    fixed.add_field("csrf_token", csrf(admin))
    fixed.add_field("file", b"\xef\xbb\xbfV1\r\nV2\r\n\r\nV3\r\n", filename="codes.txt", content_type="text/plain")
    answer = await admin.post(f"/console/coupons/{pool_id}/upload", data=fixed)
    assert answer.status == 200
    assert "3 new codes added." in await answer.text()
    async with db.session() as session:
        [status] = await pool_statuses(session)
        audits = [entry.action for entry in (await session.exec(select(AuditEntry))).all()]
    assert (status.total, status.low_stock) == (3, False)
    assert "console.coupon_codes_loaded" in audits


async def test_a_file_that_is_not_utf8_is_refused_clearly(admin: TestClient[Any, Any]) -> None:
    pool_id = await _pool(admin, "gbk")
    form = FormData()
    form.add_field("csrf_token", csrf(admin))
    form.add_field("file", "券码\n".encode("gbk"), filename="codes.txt", content_type="text/plain")
    answer = await admin.post(f"/console/coupons/{pool_id}/upload", data=form)
    assert answer.status == 400 and "The file is not UTF-8 text." in await answer.text()


async def test_a_second_pool_with_the_same_name_and_a_bad_mark_are_refused(admin: TestClient[Any, Any]) -> None:
    await _pool(admin, "same")
    answer = await admin.post(
        "/console/coupons", data={"csrf_token": csrf(admin), "name": "same", "low_water_mark": "-3"}
    )
    page = await answer.text()
    assert answer.status == 400
    assert "The low-stock warning level is a whole number of codes" in page
    answer = await admin.post("/console/coupons", data={"csrf_token": csrf(admin), "name": "same"})
    assert answer.status == 400 and "There is already a coupon pool named “same”." in await answer.text()


async def test_the_dashboard_warns_of_a_pool_running_low(
    admin: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    pool_id = await _pool(admin, "low", mark="5")
    await admin.post(f"/console/coupons/{pool_id}/codes", data={"csrf_token": csrf(admin), "codes": "L1\nL2"})
    page = await (await admin.get("/console/")).text()
    assert "Coupon pool “low” is running low: 2 codes left." in page
    plenty = "\n".join(f"L{n}" for n in range(3, 10))
    await admin.post(f"/console/coupons/{pool_id}/codes", data={"csrf_token": csrf(admin), "codes": plenty})
    page = await (await admin.get("/console/")).text()
    assert 'id="coupon-stock"' in page and "is running low" not in page
