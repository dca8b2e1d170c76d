"""Every console page in headless Chromium, in Simplified Chinese and in English: the right language
throughout, no English message left on a Chinese page, no error answer, not even for the favicon."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from base.clock import FakeClock
from handlers.context import Services
from orders.importer import ImportOptions, import_file
from storage.console import create_user
from storage.db import Database
from tests.console import seed
from tests.console.browser.conftest import CHROMIUM, CHROMIUM_ARGS, shot
from tests.console.conftest import ADMIN_PASSWORD, _hash
from tests.console.test_imports import tmall_export
from tests.support.catalogs import untranslated

pytestmark = pytest.mark.browser

BROWSER_LOCALE = {"zh_CN": "zh-CN", "en": "en-US"}
# A word of each language's navigation, to know the page is in it.
NAV_WORD = {"zh_CN": "概览", "en": "Dashboard"}


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def _pages(db: Database, services: Services, clock: FakeClock, tmp_path: Path) -> list[str]:
    now = clock.now()
    template_id, journey_id = await seed.template_and_journey(db, now)
    follower_id, profile_id = await seed.person(db, now, openid="o1", phone="+8613800138001", name="王芳", orders=2)
    await seed.push(db, now, follower_id=follower_id, journey_id=journey_id, status="sent", profile_id=profile_id)
    # Reasons the engine stores in English, which a Chinese page shows in Chinese.
    await seed.push(
        db, now, follower_id=follower_id, journey_id=journey_id, status="skipped", reason="no marketing consent",
        profile_id=profile_id,
    )  # fmt: skip
    await seed.run(db, now, journey_id=journey_id, follower_id=follower_id, profile_id=profile_id)
    await seed.run(
        db, now, journey_id=journey_id, follower_id=follower_id, profile_id=profile_id, state="goal_reached",
        end_reason="goal: first_purchase",
    )  # fmt: skip
    export = tmp_path / "ExportOrderList.csv"
    export.write_bytes(tmall_export(rows=20, bad=2))
    report = await import_file(
        db, services.settings, export, clock=clock, options=ImportOptions(platform="auto", actor="console:li")
    )
    return [
        "/console/", "/console/templates", "/console/templates/new", f"/console/templates/{template_id}",
        f"/console/templates/{template_id}/versions", "/console/journeys", f"/console/journeys/{journey_id}",
        f"/console/journeys/{journey_id}?messages=1,later", f"/console/journeys/{journey_id}/edit",
        f"/console/journeys/{journey_id}/versions", "/console/journeys/new", "/console/deliveries",
        "/console/profiles?q=王芳",
        f"/console/profiles/{profile_id}", "/console/imports", f"/console/imports/{report.run_id}",
        "/console/accounts", "/console/accounts/new", "/console/users",
    ]  # fmt: skip


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_every_page_in_each_language(
    locale: str, chromium: Any, aiohttp_server: Any, console_root: web.Application, services: Services,
    db: Database, clock: FakeClock, tmp_path: Path,
) -> None:  # fmt: skip
    paths = await _pages(db, services, clock, tmp_path)
    async with db.transaction() as session:
        await create_user(
            session, name="li", role="admin", password_hash=_hash(ADMIN_PASSWORD), now=clock.now(), locale=locale
        )
    server = await aiohttp_server(console_root, host="127.0.0.1")
    base = f"http://127.0.0.1:{server.port}"
    context = await chromium.new_context(locale=BROWSER_LOCALE[locale], viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(15_000)
    failures: list[str] = []
    page.on(
        "response", lambda answer: failures.append(f"{answer.status} {answer.url}") if answer.status >= 400 else None
    )
    html_lang = "zh-CN" if locale == "zh_CN" else "en"

    # The login page follows the browser's language before anyone signs in.
    await page.goto(f"{base}/console/")
    assert await page.get_attribute("html", "lang") == html_lang
    if locale == "zh_CN":
        assert await page.inner_text("h1 + p") == "登录控制台"
    await page.fill("input[name=name]", "li")
    await page.fill("input[name=password]", ADMIN_PASSWORD)
    await page.click("form.login-card button[type=submit]")
    await page.wait_for_url(f"{base}/console/")

    for path in paths:
        answer = await page.goto(base + path)
        assert answer is not None and answer.status == 200, path
        assert await page.get_attribute("html", "lang") == html_lang, path
        assert NAV_WORD[locale] in await page.inner_text("header nav"), path
        body = await page.inner_text("body")
        if locale == "zh_CN":
            assert re.search(r"[\u4e00-\u9fff]{2}", body), path
            assert untranslated(await page.content()) == [], path
    await page.screenshot(path=str(shot(f"users-{locale}")), full_page=True)
    assert failures == []
    await context.close()


async def test_a_person_switches_language_from_the_header(
    chromium: Any, aiohttp_server: Any, console_root: web.Application, db: Database, clock: FakeClock
) -> None:
    async with db.transaction() as session:
        await create_user(session, name="li", role="editor", password_hash=_hash(ADMIN_PASSWORD), now=clock.now())
    server = await aiohttp_server(console_root, host="127.0.0.1")
    base = f"http://127.0.0.1:{server.port}"
    context = await chromium.new_context(locale="en-US")
    page = await context.new_page()
    page.set_default_timeout(15_000)
    # An English browser: the login page in English, the console in the user's Chinese after sign-in.
    await page.goto(f"{base}/console/login")
    assert await page.get_attribute("html", "lang") == "en"
    await page.fill("input[name=name]", "li")
    await page.fill("input[name=password]", ADMIN_PASSWORD)
    await page.click("form.login-card button[type=submit]")
    await page.wait_for_url(f"{base}/console/")
    await page.goto(f"{base}/console/templates")
    assert "消息模板" in await page.inner_text("h1")
    await page.click("#languages button[value=en]")
    await page.wait_for_selector("html[lang=en]")
    assert page.url == f"{base}/console/templates"
    assert "Message templates" in await page.inner_text("h1")
    await page.goto(f"{base}/console/journeys")
    assert await page.get_attribute("html", "lang") == "en"
    await page.click("#languages button[value=zh_CN]")
    await page.wait_for_selector("html[lang=zh-CN]")
    assert "用户旅程" in await page.inner_text("h1")
    await context.close()
