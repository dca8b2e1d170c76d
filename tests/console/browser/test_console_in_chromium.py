"""An admin signs in, writes and previews a template, imports orders with a progress bar, sees the funnel."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from sqlmodel import select

from base.clock import FakeClock
from storage.db import Database
from storage.models.console import ConsoleUser
from tests.console import seed
from tests.console.browser.conftest import shot
from tests.console.conftest import ADMIN_PASSWORD
from tests.console.test_imports import tmall_export

pytestmark = pytest.mark.browser


async def _sign_in(page: Any, base: str) -> None:
    await page.goto(f"{base}/console/")
    assert "/console/login" in page.url
    await page.screenshot(path=str(shot("login")))
    await page.fill("input[name=name]", "alice")
    await page.fill("input[name=password]", ADMIN_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/console/")


async def test_admin_journey_through_the_console(
    browser_page: Any,
    aiohttp_server: Any,
    console_root: web.Application,
    users: None,
    db: Database,
    clock: FakeClock,
    tmp_path: Any,
) -> None:
    now = clock.now()
    _template, journey_id = await seed.template_and_journey(db, now)
    people = [
        await seed.person(
            db, now, openid=f"o{number}", phone=f"+86138001380{number:02d}", orders=orders, channel=channel
        )
        for number, (channel, orders) in enumerate([("store_qr", 0), ("store_qr", 1), ("kol", 2), ("kol", 0)])
    ]
    runner_id, runner_profile = people[1]
    await seed.run(db, now, journey_id=journey_id, follower_id=runner_id, profile_id=runner_profile)
    await seed.person(db, now, openid="o9", phone=None, channel="kol")
    # The admin reads the console as it comes: in Simplified Chinese (the fixture's users read English).
    async with db.transaction() as session:
        alice = (await session.exec(select(ConsoleUser).where(ConsoleUser.name == "alice"))).one()
        alice.locale = "zh_CN"
        session.add(alice)
    server = await aiohttp_server(console_root, host="127.0.0.1")
    base = f"http://127.0.0.1:{server.port}"
    page = browser_page
    page.set_default_timeout(15_000)

    await _sign_in(page, base)
    # The engine panel: no scheduler runs in this console-only app, and the held push is counted.
    engine = page.locator("#engine")
    await engine.wait_for()
    assert "调度器未运行" in await engine.inner_text()
    assert await page.inner_text("#backlog-due") == "0"
    # The funnel chart is drawn on the dashboard.
    funnel = page.locator("#funnel svg")
    await funnel.wait_for()
    assert await funnel.locator("rect").count() == 4
    assert "复购用户" in (await funnel.text_content() or "")
    await page.screenshot(path=str(shot("dashboard")), full_page=True)

    # A new template: the live preview follows the typing.
    await page.click("nav >> text=消息模板")
    await page.click("#new-template")
    await page.fill("#template-name", "coupon_reminder")
    body = (
        "kind: text\npurpose: marketing\ncontent: '{{ profile.name }}，您的优惠券快到期了'\n"
        "fallbacks:\n  profile.name: 朋友\n"
    )
    await page.fill("#template-body", body)
    # (The page's CSP forbids eval, so waits use locators, not wait_for_function.)
    await page.locator("#preview-text", has_text="优惠券快到期了").wait_for()
    assert (await page.inner_text("#preview-text")).startswith("王小姐")
    # A mistake shows its message at once, before saving.
    await page.fill("#template-body", body.replace("profile.name }}", "profile.nickname }}"))
    await page.wait_for_selector("#issues:not([hidden])")
    assert "nickname" in await page.inner_text("#issues")
    await page.fill("#template-body", body)
    await page.wait_for_selector("#issues", state="hidden")
    await page.screenshot(path=str(shot("template")), full_page=True)
    await page.click("#save-template")
    await page.wait_for_selector("#publish-template")
    await page.click("#publish-template")
    await page.wait_for_selector("text=已发布：之后的推送将使用此版本。")

    # An order import: upload, watch the progress bar reach the end, land on the report.
    export = tmp_path / "ExportOrderList.csv"
    export.write_bytes(tmall_export(rows=400, bad=3))
    polled: list[dict[str, Any]] = []

    async def remember(route: Any) -> None:
        # Read each progress answer on its way to the page (its body is gone once the page moves on).
        response = await route.fetch()
        polled.append(await response.json())
        if len(polled) == 1:
            await page.screenshot(path=str(shot("import-progress")))
        await route.fulfill(response=response)

    await page.route(re.compile(r".*/console/imports/jobs/[\w-]+\.json$"), remember)
    await page.goto(f"{base}/console/imports")
    await page.set_input_files("input[type=file]", str(export))
    await page.click("#upload-form button[type=submit]")
    await page.wait_for_url(re.compile(r".*/console/imports/\d+$"), timeout=30_000)
    # The progress bar was fed by the polled JSON until the import said done at 100%.
    assert polled and polled[-1]["state"] == "done" and polled[-1]["percent"] == 100
    assert polled[-1]["rows_done"] == 403
    assert await page.inner_text("#rejected-count") == "3"
    assert await page.locator("#rejects-download").count() == 1
    await page.screenshot(path=str(shot("import-report")), full_page=True)

    # Back on the dashboard the buyers from the import are counted.
    await page.goto(f"{base}/console/")
    assert int(await page.inner_text("#stat-buyers")) >= 400

    # A profile with a journey run opens and shows where the run stands.
    answer = await page.goto(f"{base}/console/profiles/{runner_profile}")
    assert answer is not None and answer.status == 200
    runs = page.locator("section.card", has_text="旅程记录")
    assert "onboarding v1" in await runs.inner_text()
    assert await runs.locator("td.run-step").count() == 1
    await page.screenshot(path=str(shot("profile-with-runs")), full_page=True)
